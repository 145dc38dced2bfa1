"""Large pipelines stay linear: loading, validating and ordering a 10,000-node pipeline took 31 s because every
query scanned every link. Counted in link visits, not seconds, so a busy machine cannot fail it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench import graph as G
from workbench.graph import Pipeline


class CountingList(list):
    """A list that counts how many elements were visited by iteration."""

    visits = 0

    def __iter__(self):  # noqa: ANN204
        for item in super().__iter__():
            CountingList.visits += 1
            yield item


def chain_file(tmp_path: Path, n: int) -> Path:
    nodes = [{"id": "file", "type": "data.file", "params": {"path": "data.csv"}, "position": [0, 0]}]
    links, prev = [], "file"
    for i in range(n - 1):
        nodes.append({"id": f"c{i}", "type": "clean.missing", "params": {}, "position": [i, 0]})
        links.append({"from": [prev, "table"], "to": [f"c{i}", "table"]})
        prev = f"c{i}"
    path = tmp_path / "long.pipeline.json"
    path.write_text(json.dumps({"format_version": 1, "nodes": nodes, "links": links}))
    return path


@pytest.mark.parametrize("n", [500, 4000])
def test_load_validate_and_order_visit_each_link_a_few_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    real_init = Pipeline.__init__

    def init(self: Pipeline, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        real_init(self, *args, **kwargs)
        self._links = CountingList()

    monkeypatch.setattr(G.Pipeline, "__init__", init)
    CountingList.visits = 0
    pipeline = Pipeline.load(chain_file(tmp_path, n))
    assert pipeline.problems() == {}
    order = pipeline.topological_order()
    assert order[0] == "file" and order[-1] == f"c{n - 2}" and len(order) == n
    for node in pipeline.nodes:
        pipeline.input_links(node.id)
        pipeline.output_links(node.id)
    assert len(pipeline.upstream(f"c{n - 2}")) == n - 1
    assert CountingList.visits <= 10 * n  # was ~n²/2 per query kind (4000 nodes: ~8 million visits each)


def test_indexes_follow_every_edit(tmp_path: Path) -> None:
    pipeline = Pipeline.load(chain_file(tmp_path, 5))
    link = pipeline.input_links("c1")["table"]
    pipeline.remove_link(link)
    assert pipeline.input_links("c1") == {} and pipeline.output_links("c0") == []
    assert "c0" not in pipeline.upstream("c1") and "c1" not in pipeline.downstream("c0")
    pipeline.add_link(link, index=1)
    assert pipeline.links[1] == link and pipeline.input_links("c1")["table"] == link
    assert pipeline.links_of("c1") == [link, pipeline.output_links("c1")[0]]
    with pytest.raises(G.InputOccupiedError):
        pipeline.connect("file.table", "c1.table")
    pipeline.remove_link(link)
    with pytest.raises(G.CycleError):
        pipeline.connect("c3.table", "c1.table")  # c1 → c2 → c3 already
