import shutil

import graphviz
import pytest

from lessonlib import graphs


def tiny_graph():
    g = graphviz.Digraph()
    g.node("a", "A")
    g.node("b", "B")
    g.edge("a", "b")
    return g


def test_graph_size_counts_nodes_and_edges():
    assert graphs.graph_size(tiny_graph()) == (2, 1)


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
def test_render_writes_source_svg_and_png(tmp_path):
    written = graphs.render(tiny_graph(), "g", tmp_path)
    assert [p.name for p in written] == ["g.dot", "g.svg", "g.png"]
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (tmp_path / "g.svg").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.dot", "g.png", "g.svg"]


def test_render_without_dot_writes_the_source_and_says_how_to_install(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setitem(graphs._warned, "dot", False)
    written = graphs.render(tiny_graph(), "g", tmp_path)
    assert [p.name for p in written] == ["g.dot"]
    assert "digraph" in written[0].read_text()
    err = capsys.readouterr().err
    assert "apt-get install graphviz" in err and err.count("\n") == 1
