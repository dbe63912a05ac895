"""`sam build` of the whole template: the layer carries the package and arm64 wheels, every function its code.

Slow: it downloads the layer's wheels from PyPI for manylinux aarch64. One test, one build: under
pytest-xdist a module fixture would build once per worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from template_helpers import REPO, TEMPLATE

from eks_auditor_tools.patterns import load_template

BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Build:
    directory: Path
    seconds: float
    output: str


def run_sam_build(tmp_path: Path) -> Build:
    directory = tmp_path / "build"
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            # The layer's Makefile runs python3.12 from PATH: the venv's interpreter.
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(home),
            "SAM_CLI_TELEMETRY": "0",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    started = time.monotonic()
    result = subprocess.run(
        [
            str(BIN / "sam"),
            "build",
            "--template-file",
            str(TEMPLATE),
            "--build-dir",
            str(directory),
            # samconfig.toml turns the cache on; a shared .aws-sam/ in the work tree would race with
            # another build (or another xdist worker), so this build keeps everything in tmp.
            "--no-cached",
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=900,
        check=False,
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    print(f"sam build took {seconds:.1f} s")
    return Build(directory, seconds, result.stdout + result.stderr)


def test_sam_build(tmp_path: Path) -> None:
    build = run_sam_build(tmp_path)
    check_layer_holds_the_package_under_python(build)
    check_layer_wheels_are_built_for_arm64(build)
    check_layer_ships_unchecked_hash_bytecode(build)
    check_functions_are_built_with_their_handlers(build)


def check_layer_holds_the_package_under_python(build: Build) -> None:
    python = build.directory / "CoreLayer" / "python"
    assert (python / "eks_auditor" / "__init__.py").is_file()
    assert (python / "eks_auditor" / "audit.py").is_file()
    assert (python / "eks_auditor" / "data" / "eks_versions.yaml").is_file()
    assert (python / "eks_auditor" / "data" / "frameworks" / "cis-eks-1.7.json").is_file()
    assert (python / "aws_lambda_powertools" / "__init__.py").is_file()
    for package in ("pydantic", "yaml", "aws_xray_sdk", "boto3", "botocore"):
        assert (python / package / "__init__.py").is_file(), package
    # The layer carries only the runtime: the CLI, demo, benchmark and report tooling live in src/.
    assert not (python / "eks_auditor_tools").exists()
    shipped = {
        p.relative_to(python / "eks_auditor").as_posix() for p in (python / "eks_auditor").rglob("*.py")
    }
    tooling = {"cli", "demo", "bench.py", "report.py", "patterns.py", "prowler.py"}
    assert {path for path in shipped if path.split("/")[0] in tooling} == set()


def check_layer_ships_unchecked_hash_bytecode(build: Build) -> None:
    """Every module of the layer has a .pyc for CPython 3.12 that no deploy-time mtime can invalidate."""
    python = build.directory / "CoreLayer" / "python"
    tag = "cpython-312"
    missing = []
    for package in ("eks_auditor", "aws_lambda_powertools", "pydantic", "boto3"):
        for source in (python / package).rglob("*.py"):
            compiled = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
            if not compiled.is_file():
                missing.append(source.relative_to(python).as_posix())
                continue
            # PEP 552 header: flags 0b01 = hash-based, check_source bit (0b10) off = unchecked.
            flags = int.from_bytes(compiled.read_bytes()[4:8], "little")
            assert flags == 0b01, (compiled, flags)
    assert missing == []
    assert (python / "eks_auditor" / "__pycache__" / f"audit.{tag}.pyc").is_file()
    # Only the layer's output is packaged: not the Makefile that built it.
    assert not (python.parent / "Makefile").exists()


def check_layer_wheels_are_built_for_arm64(build: Build) -> None:
    python = build.directory / "CoreLayer" / "python"
    extensions = sorted(p.name for p in python.rglob("*.so"))
    assert any(name.startswith("_pydantic_core.") for name in extensions)
    assert extensions, "no compiled extension at all"
    assert [name for name in extensions if "x86_64" in name] == []
    assert all("aarch64" in name for name in extensions), extensions


def check_functions_are_built_with_their_handlers(build: Build) -> None:
    built = load_template(build.directory / "template.yaml")
    functions = {
        name: resource["Properties"]["CodeUri"]
        for name, resource in built["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert sorted(functions) == [
        "ClusterWorkerFunction",
        "EventAuditFunction",
        "QueryApiFunction",
        "ScheduleFunction",
        "SpotEventFunction",
    ]
    for name, code_uri in functions.items():
        assert code_uri == name
        assert (build.directory / code_uri / "app.py").is_file(), name
        # The package comes from the layer only, never copied into a function.
        assert not (build.directory / code_uri / "eks_auditor").exists(), name
