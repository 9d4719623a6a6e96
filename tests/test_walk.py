"""Walking huge folders: sorted runs spilled to disk give the same order as sorting in memory."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate.ingest import jekyll
from syndicate.ingest.jekyll import iter_post_files

NAMES = st.text(st.characters(exclude_characters="/\0", exclude_categories=("Cs",)),
                min_size=1, max_size=30).filter(lambda name: not name.startswith("."))


@settings(max_examples=25, deadline=None)
@given(names=st.sets(NAMES, max_size=40), run=st.integers(1, 8))
def test_folders_of_any_size_are_walked_in_name_order(names: set[str], run: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i, name in enumerate(sorted(names)):
            if i % 5 == 4:  # some folders among the files, each with a post inside
                (root / f"{name}~").mkdir()
                (root / f"{name}~" / "post.md").write_text("x", encoding="utf-8")
            else:
                (root / f"{name}.md").write_text("x", encoding="utf-8")
        in_memory = list(iter_post_files([root]))
        original = jekyll.SORT_RUN
        jekyll.SORT_RUN = run
        try:
            spilled = list(iter_post_files([root]))
        finally:
            jekyll.SORT_RUN = original
    assert spilled == in_memory
    expected = sorted((f"{name}~", "post.md") if i % 5 == 4 else (f"{name}.md",)
                      for i, name in enumerate(sorted(names)))
    assert [path.relative_to(root).parts for path in in_memory] == expected


def test_unordered_walk_finds_the_same_files(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("b.md", "a.md", "c.txt", ".hidden.md"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.markdown").write_text("x", encoding="utf-8")
    monkeypatch.setattr(jekyll, "SORT_RUN", 1)
    ordered = list(iter_post_files([tmp_path]))
    assert [p.relative_to(tmp_path).as_posix() for p in ordered] == ["a.md", "b.md", "sub/d.markdown"]
    assert sorted(iter_post_files([tmp_path], ordered=False)) == sorted(ordered)
