"""Generates the Python protobuf and gRPC code of ``proto/gpuplane/v1`` into
``python/gpuplane/_proto/v1`` (or into ``--out``, for the drift check in tests).

Run it after changing a ``.proto`` file: ``python scripts/gen_proto.py``. The generated code is
committed so that the installed package imports with no build step; ``tests/test_proto_drift.py``
regenerates it into a temporary folder and fails if anything differs.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE_DIR = Path("gpuplane") / "v1"
DEFAULT_OUT = ROOT / "python" / "gpuplane" / "_proto"
IMPORT = re.compile(r"^from gpuplane\.v1 import ", re.MULTILINE)
INIT = '"""Generated protobuf and gRPC code of the gpuplane.v1 wire contract (do not edit)."""\n'


def proto_files() -> list[Path]:
    """The ``.proto`` files, sorted."""
    return sorted((PROTO_ROOT / PACKAGE_DIR).glob("*.proto"))


def run_protoc(tmp: Path) -> None:
    """Runs grpcio-tools' bundled protoc into ``tmp``."""
    import grpc_tools
    from grpc_tools import protoc

    include = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={tmp}",
        f"--pyi_out={tmp}",
        f"--grpc_python_out={tmp}",
        *(str(p.relative_to(PROTO_ROOT)) for p in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def generate(out: Path) -> None:
    """Writes ``out/__init__.py`` and ``out/v1/*`` with imports rewritten into the package."""
    with tempfile.TemporaryDirectory() as tmp:
        run_protoc(Path(tmp))
        target = out / "v1"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for src in sorted((Path(tmp) / PACKAGE_DIR).iterdir()):
            text = IMPORT.sub("from gpuplane._proto.v1 import ", src.read_text())
            (target / src.name).write_text(text)
    (out / "__init__.py").write_text(INIT)
    (out / "v1" / "__init__.py").write_text(INIT)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``gen_proto.py [--out DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    generate(parser.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
