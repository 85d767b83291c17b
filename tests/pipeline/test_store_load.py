"""bjkg.graph.store_load: the store holds exactly the file's quads, whole or loaded in pieces."""
from __future__ import annotations

import pyoxigraph as ox
import pytest

from bjkg.graph.store_load import load_nquads, split_lines

G = "https://w3id.org/bjkg/graph/"
ID = "https://w3id.org/bjkg/id/"


def _nquads(n: int) -> bytes:
    """n varied quads over three graphs: IRIs, language-tagged and typed literals,
    escapes, non-ASCII text, one duplicate line."""
    lines = []
    for i in range(n):
        g = f"<{G}g{i % 3}>"
        s = f"<{ID}thing/t-{i // 4:05d}>"
        kind = i % 4
        if kind == 0:
            lines.append(f'{s} <http://www.w3.org/2000/01/rdf-schema#label> "通州 {i}"@zh-Hans {g} .')
        elif kind == 1:
            lines.append(f'{s} <http://purl.org/linked-data/sdmx/2009/measure#obsValue> '
                         f'"{i}.5"^^<http://www.w3.org/2001/XMLSchema#decimal> {g} .')
        elif kind == 2:
            lines.append(f'{s} <https://w3id.org/bjkg/ontology#quote> "line \\"{i}\\"\\nnext" {g} .')
        else:
            lines.append(f"{s} <https://w3id.org/bjkg/ontology#within> <{ID}place/p-{i % 7}> {g} .")
    lines.append(lines[0])
    return ("\n".join(lines) + "\n").encode("utf-8")


def _quads_of(path) -> set:
    return set(ox.parse(path=str(path), format=ox.RdfFormat.N_QUADS))


def _stored(store_dir) -> set:
    return set(ox.Store.read_only(str(store_dir)))



def test_store_from_bytes_in_memory(tmp_path):
    """The build loads its quads from memory while it writes the dumps: same store."""
    path = tmp_path / "data.nq"
    path.write_bytes(_nquads(400))
    load_nquads(tmp_path / "store", path.read_bytes(), lenient=True)
    assert _stored(tmp_path / "store") == _quads_of(path)

@pytest.mark.parametrize("piece_bytes", [None, 1, 97, 4096])
def test_store_has_the_files_quads(tmp_path, piece_bytes):
    """Whole (None) and in pieces down to one line each: same quads as the file."""
    path = tmp_path / "data.nq"
    path.write_bytes(_nquads(400))
    load_nquads(tmp_path / "store", path, threads=3, piece_bytes=piece_bytes)
    expected = _quads_of(path)
    assert len(expected) == 400
    assert _stored(tmp_path / "store") == expected
    counts = {row[0].value: int(row[1].value) for row in ox.Store.read_only(
        str(tmp_path / "store")).query("SELECT ?g (COUNT(*) AS ?n) { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")}
    assert counts == {f"{G}g0": 134, f"{G}g1": 133, f"{G}g2": 133}


def test_pieces_cover_every_line_once(tmp_path):
    path = tmp_path / "data.nq"
    data = _nquads(50)[:-1]  # no newline at the end
    path.write_bytes(data)
    for size in (1, 10, 200, len(data), 10 * len(data)):
        pieces = split_lines(path, size)
        assert pieces[0][0] == 0 and pieces[-1][1] == len(data)
        assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
        assert all(data[end - 1:end] == b"\n" for _, end in pieces[:-1])
    assert len(split_lines(path, 1)) == data.count(b"\n") + 1


def test_blank_nodes_stay_one_node_across_pieces(tmp_path):
    """A bulk load renames blank nodes per call: a file with one is loaded whole."""
    path = tmp_path / "data.nq"
    path.write_bytes(b"_:b1 <http://ex/p> \"1\" <http://ex/g> .\n"
                     b"<http://ex/s> <http://ex/p> \"2\" <http://ex/g> .\n"
                     b"_:b1 <http://ex/q> \"3\" <http://ex/g> .\n")
    load_nquads(tmp_path / "store", path, threads=2, piece_bytes=1)
    subjects = {q.subject for q in _stored(tmp_path / "store")
                if isinstance(q.subject, ox.BlankNode)}
    assert len(subjects) == 1


def test_syntax_error_names_file_and_line_of_the_whole_file(tmp_path):
    path = tmp_path / "bad.nq"
    lines = _nquads(40).decode("utf-8").splitlines()
    lines[29] = "<http://ex/s> <not an iri> <http://ex/o> <http://ex/g> ."
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for piece_bytes in (None, 200):
        with pytest.raises(SyntaxError) as caught:
            load_nquads(tmp_path / f"store-{piece_bytes}", path, threads=2, piece_bytes=piece_bytes)
        assert caught.value.filename == str(path) and caught.value.lineno == 30
        assert f"{path}, line 30:" in str(caught.value) and "line 30 " in str(caught.value)
