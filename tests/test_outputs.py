"""Output locations are checked before any work and staged outputs move into place only on
success; on real small, full and read-only file systems (tmpfs) where the platform allows."""

from __future__ import annotations

import os

import pytest

from sam2studio.core.outputs import OutputError, StagedOutputs, check_output

from fs_faults import tmpfs


def test_a_full_disk_is_refused_before_any_work():
    with tmpfs("256k", full=True) as fs:
        with pytest.raises(OutputError, match=r"^cannot write --out .*/masks: the disk is full$"):
            check_output(fs / "masks", label="--out", directory=True)
        assert [p.name for p in fs.iterdir()] == [".filler"]  # the test write left nothing


def test_too_little_free_space_for_the_expected_output_is_refused():
    with tmpfs("512k") as fs:
        with pytest.raises(OutputError,
                           match=r"not enough free space for --project .*clip.s2s: .* free, about 50.0 MB needed"):
            check_output(fs / "clip.s2s", label="--project", directory=False, need_bytes=50_000_000)
        check_output(fs / "clip.s2s", label="--project", directory=False, need_bytes=100_000)


def test_a_read_only_file_system_is_refused():
    with tmpfs("256k", read_only=True) as fs:
        with pytest.raises(OutputError, match="the file system is read-only"):
            check_output(fs / "a" / "b.json", label="--quality-report", directory=False)


def test_a_path_through_a_file_or_of_the_wrong_kind_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match=r"cannot be created: .*/f is a file"):
        check_output(tmp_path / "f" / "out", label="--out", directory=True)
    with pytest.raises(OutputError, match="is a file; give a folder"):
        check_output(tmp_path / "f", label="--out", directory=True)
    with pytest.raises(OutputError, match="is a folder; give a file name"):
        check_output(tmp_path, label="--project", directory=False)
    check_output(tmp_path / "new" / "deeper" / "x.s2s", label="--project", directory=False)
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_staged_outputs_move_into_place_in_order_only_on_success(tmp_path):
    with StagedOutputs() as out:
        a = out.stage(tmp_path / "clip.s2s")
        b = out.stage(tmp_path / "masks", directory=True)
        a.write_text("project")
        b.mkdir()
        (b / "objects.json").write_text("{}")
        assert not (tmp_path / "masks").exists() and not (tmp_path / "clip.s2s").exists()
    assert (tmp_path / "clip.s2s").read_text() == "project"
    assert (tmp_path / "masks" / "objects.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.s2s", "masks"]


def test_a_failure_leaves_nothing_staged_and_the_old_results_alone(tmp_path):
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "objects.json").write_text("old")
    with pytest.raises(RuntimeError):
        with StagedOutputs() as out:
            b = out.stage(tmp_path / "masks", directory=True)
            b.mkdir()
            (b / "objects.json").write_text("new")
            raise RuntimeError("propagation failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks"]
    assert (tmp_path / "masks" / "objects.json").read_text() == "old"


def test_a_full_disk_while_writing_leaves_nothing_that_looks_complete():
    with tmpfs("256k") as fs:
        with pytest.raises(OSError):
            with StagedOutputs() as out:
                report = out.stage(fs / "quality.json")
                masks = out.stage(fs / "masks", directory=True)
                report.write_text("{}")
                masks.mkdir()
                with open(masks / "frame_0000_obj_1.png", "wb") as f:
                    for _ in range(100):
                        f.write(os.urandom(65536))
                        f.flush()
        assert list(fs.iterdir()) == []


def test_an_error_about_a_staged_output_names_the_final_place(tmp_path):
    from sam2studio.errors import UserError

    with pytest.raises(UserError, match=r"^cannot write .*/masks: the disk is full$"):
        with StagedOutputs() as out:
            tmp = out.stage(tmp_path / "masks", directory=True)
            raise UserError(f"cannot write {tmp}: the disk is full")
    assert list(tmp_path.iterdir()) == []
