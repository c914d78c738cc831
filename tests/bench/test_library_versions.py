"""The kernel libraries are versioned: `require` accepts an earlier digest only for a version
whose every entry point the current files reproduce bit for bit.

The earlier versions are archived byte for byte under data/library-archive/<commit>/ (each
`aar_recipes` beside the `aar_methods` it imports). Their digests must be the listed ones, and
`library_probe.py` trains every family and representative configurations with each version,
one subprocess per version (the module names are the same), on two real tasks and two seeds,
each seed alone and the seeds stacked: the predictions must be equal bit for bit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aar.bench import export_public
from aar.bench._train import library, library_dir, recipes

lib, rec = library(), recipes()
HERE = Path(__file__).parent
ARCHIVE = HERE / "data" / "library-archive"
VERSIONS = sorted(p for p in ARCHIVE.iterdir() if p.is_dir())


def test_every_compatible_digest_is_an_archived_version_and_others_are_refused() -> None:
    methods = {lib.library_sha256(v / "aar_methods"): v.name for v in VERSIONS}
    both = {rec.recipes_sha256(v): v.name for v in VERSIONS}
    assert methods == {d: n.split(":")[0] for d, n in lib.COMPATIBLE_SHA256.items()}
    assert both == {d: n.split(":")[0] for d, n in rec.COMPATIBLE_SHA256.items()}
    assert "fa7eea747400fc41e1c6f690df766bf9eddaef22ab1965dd1bd85972661468be" in methods
    assert "d60f212e34116ccecb16cabd65f9024e766cdad06ada8df1b40fb485e354756f" in both
    for digest in methods:
        lib.require(digest)  # a script pinned to an earlier version runs
    for digest in both:
        rec.require(digest)
    lib.require(lib.LIBRARY_SHA256)
    rec.require(rec.LIBRARY_SHA256)
    for unknown in ("0" * 64, rec.LIBRARY_SHA256):  # the other package's digest included
        with pytest.raises(lib.LibraryMismatchError, match="refusing to run"):
            lib.require(unknown)
    for unknown in ("0" * 64, lib.LIBRARY_SHA256):
        with pytest.raises(rec.LibraryMismatchError, match="refusing to run"):
            rec.require(unknown)


@pytest.mark.slow  # ~30 s of CPU per version, both versions in parallel
@pytest.mark.timeout(900)  # minutes of wall time on a busy machine
def test_the_current_libraries_reproduce_every_archived_version(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    for task in ("digits-10", "breast-cancer"):
        for seed in (42, 43):
            export_public(task, seed, exports / task / f"seed-{seed}")
    kernels = {"current": library_dir().parent, **{v.name: v for v in VERSIONS}}
    runs = {
        name: subprocess.Popen(
            [sys.executable, str(HERE / "library_probe.py"), kernel, exports, tmp_path / name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, kernel in kernels.items()
    }
    for name, run in runs.items():
        out, err = run.communicate(timeout=900)
        assert run.returncode == 0, (name, err[-2000:])
        digests = json.loads(out.strip().splitlines()[-1])  # what the probe's process imported
        assert digests["methods"] == lib.library_sha256(Path(kernels[name]) / "aar_methods")
        assert digests["recipes"] == rec.recipes_sha256(kernels[name])
    current = np.load(tmp_path / "current.npz")
    for version in VERSIONS:
        old = np.load(tmp_path / f"{version.name}.npz")
        assert len(old.files) > 400 and set(old.files) <= set(current.files), version.name
        assert any("digits-10/batch=True/methods/logconf{'aux_coef': 0.75}" in k for k in old)
        for key in old.files:
            assert np.array_equal(old[key], current[key]), (version.name, key)
