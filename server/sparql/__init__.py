"""The SPARQL 1.1 protocol and engine: request parsing, query text analysis, evaluation in
lanes (threads) of an evaluator process with admission control and hard limits (workers,
admission; the supervisor's side of the data process, standard library only:
data_process), federation, the service description, the per-build star aggregates and
literal index that answer common queries (the index looked up in the evaluator
process), and the check that an XML answer is XML (xml_check).

May import `bjkg.server.core` only. Stores, pages and views build on it; it never imports them.
"""
