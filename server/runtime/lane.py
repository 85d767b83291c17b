"""The SPARQL query lane on the HTTP front's event loop: most queries answered without a
thread and without Flask's request cycle.

Why (measured at 1M triples, bench/README.md): an evaluator answers an entity lookup in
≈1.3 ms, but the HTTP process spent ≈1.9 ms of CPU around it — a hop to a lane thread
and back, Flask's request context, routing and hooks — so the HTTP processes, not the
evaluators, bounded throughput. Here a ``GET``/``POST /sparql`` query is

* planned on the loop by the same functions the Flask view uses (`read_operation`,
  `query_arguments`: the lexical checks, SERVICE refusal and negotiation), when its text is
  short (`PLANNED_UP_TO`; a longer one is analysed in a thread);
* evaluated by `query_async` of the store, which takes a query slot and an evaluator when
  both can be had at once and then awaits the evaluator's socket on the loop, with the same
  deadline (from arrival), hang-up cancellation and demotion as the threaded path; a query
  that must wait for a slot (the client's share taken, or every slot) waits in a thread of
  the query lane, by the same admission rules, but still without Flask (`_Waiting`);
* answered with the same headers (`add_headers`) and errors (`store_problem`,
  `render_problem`) as the Flask view.

Whatever it does not take — another path or method, a conditional GET, an update or the
service description, a request the protocol refuses (Flask renders the error) — goes the
threaded way through Flask unchanged; both ways share every function that decides an answer.
"""
from __future__ import annotations

import logging

from werkzeug.wrappers import Request

from bjkg.server.core.errors import HTTPProblem, server_error
from bjkg.server.sparql.protocol import read_operation
from bjkg.server.sparql.workers import WouldWait
from bjkg.server.views.sparql import answer_response, query_arguments, wants_page
from bjkg.server.web.extension import get_state, store_problem
from bjkg.server.web.headers import add_headers, etag_for
from bjkg.server.web.problems import log_problem, render_problem

log = logging.getLogger("bjkg.front")

PLANNED_UP_TO = 16 * 1024  # bytes of a request's query text or body planned on the loop


class QueryLane:
    """The query lane of one HTTP worker's Flask `app` (see the module's doc)."""

    def __init__(self, app) -> None:
        self.app = app
        state = get_state(app)
        self.store = state.store
        self.build_hash = state.build_hash
        self.enabled = (hasattr(self.store, "query_async") and getattr(self.store, "pool", None) is not None)

    def takes(self, scope, body: bytes) -> bool:
        """Whether to try the lane for this request (cheap: no parsing)."""
        return (self.enabled and scope["path"] == "/sparql" and scope["method"] in ("GET", "POST")
                and len(body) <= PLANNED_UP_TO and len(scope.get("query_string", b"")) <= PLANNED_UP_TO
                and not any(name == b"if-none-match" for name, _ in scope["headers"]))

    async def answer(self, environ: dict, context, hung_up):
        """For the request of `environ`: a Werkzeug response (its body may be streamed); a
        WSGI callable to run in a thread of the query lane (a planned query that must wait
        for a query slot or an evaluator); or None to answer it the threaded way through
        Flask (nothing has been evaluated)."""
        request = Request(environ, populate_request=False)
        config = self.app.config
        with self.app.app_context():
            try:
                operation = read_operation(request, max_query_length=config["MAX_QUERY_LENGTH"])
                if operation.kind != "query":
                    return None
                accept = request.headers.get("Accept")
                if wants_page(operation, accept):
                    return None  # a browser opening a query's URL: the page is Flask's
                arguments = query_arguments(operation, accept)
            except HTTPProblem:
                return None  # refused by the protocol: Flask's handlers render it
        try:
            answer = await self.store.query_async(**arguments, context=context, hung_up=hung_up)
        except WouldWait as exc:  # planned: answered in a thread without planning it again
            return _Waiting(self, exc.resume or (lambda: self.store.query(**arguments)), request, accept)
        except Exception as exc:  # noqa: BLE001 - every error becomes a response, as in Flask
            return self.problem_response(exc, request, accept)
        try:
            return self.response(answer, request)
        except HTTPProblem as exc:  # an answer its format cannot carry
            return self.problem_response(exc, request, accept)

    def response(self, answer, request):
        """The response of `answer`, with the headers every response gets."""
        config = self.app.config
        return add_headers(answer_response(answer), request, config, etag_for(request, config, self.build_hash))

    def error_response(self, exc: Exception, environ: dict):
        """For the HTTP front: the response for an error of the store layer raised while a
        streamed answer was read, before any of it was sent (None for any other error)."""
        if store_problem(self.app, exc) is None:
            return None
        request = Request(environ, populate_request=False)
        return self.problem_response(exc, request, request.headers.get("Accept"))

    def problem_response(self, exc: Exception, request, accept: str | None):
        """The error response for `exc`, as Flask's error handlers render it."""
        problem = exc if isinstance(exc, HTTPProblem) else store_problem(self.app, exc)
        if problem is None:
            log.error("unhandled error answering a query", exc_info=exc)
            problem = server_error("The server failed while answering this request; the fault is "
                                   "logged. Please report it if it persists.")
        elif isinstance(exc, HTTPProblem):
            log_problem(self.app, problem)
        with self.app.request_context(request.environ):  # an HTML error page is the site's
            response = render_problem(problem, accept)
        config = self.app.config
        return add_headers(response, request, config, etag_for(request, config, self.build_hash))


class _Waiting:
    """A planned query that cannot start at once, as a WSGI app: evaluated in a thread of the
    query lane by `resume` (what the store's WouldWait gave: its threaded path, which queues
    the query or refuses it, 429 or 503, by the admission rules; else the store's `query`),
    and answered as `QueryLane.answer` would."""

    def __init__(self, lane: QueryLane, resume, request, accept: str | None) -> None:
        self.lane, self.resume, self.request, self.accept = lane, resume, request, accept

    def __call__(self, environ, start_response):
        try:
            response = self.lane.response(self.resume(), self.request)
        except Exception as exc:  # noqa: BLE001 - every error becomes a response, as in Flask
            response = self.lane.problem_response(exc, self.request, self.accept)
        return response(environ, start_response)
