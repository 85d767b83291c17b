"""The page model: one description per resource (`describe`), labels and their languages,
the UI's words in three scripts, readable numbers, charts, locator maps, division facts,
example queries and the label search index. Plain data in, plain data out: no Flask request,
no store opened here (describe is handed its reads).

May import `bjkg.server.sparql` and `bjkg.server.core`. Independent of `stores/`. To add a
page section: compute it in `describe` (or a module beside it) and format it in a template.
"""
