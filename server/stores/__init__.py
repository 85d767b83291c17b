"""Store backends behind one protocol (`embedded.Backend`): the embedded pyoxigraph build or
in-memory dataset, a remote SPARQL store (Virtuoso, Fuseki …), publishing a build into one,
and the index reads and label table the entity pages use; `integrity` checks that a build
folder is whole (build.json, store, dump checksums) before it is served.

May import `bjkg.server.sparql` and `bjkg.server.core`. Independent of `pages/`; never imports
web/, views/ or runtime/. To add a backend: implement `Backend` in a module here and open it
in `bjkg.server.web.extension`.
"""
