"""The KCIDB document, validated with kcidb-io's own schema (the one KernelCI's database checks
submissions against). The seed scenario's export (real builds) is in test_seed_scenario.py."""

import copy
import json

import jsonschema
import kcidb_io
import pytest
from conftest import PROJECT, every_kind

from orchestrator import matrix
from orchestrator.models import BuildResult, Diagnostic, Status
from orchestrator.views import kcidb

SHIPPED = matrix.load(PROJECT / "matrix.yaml")
UNITS = {u.id: u for u in SHIPPED.units}
# every_kind's columns, each standing for a unit of the shipped matrix (one of them a check)
AS_UNIT = {"fails": "riscv-gcc-defconfig+kvm", "still": "arm64-gcc-defconfig+kvm", "warns": "x86_64-clang-defconfig+kvm",
           "host": "i386-gcc-defconfig+kvm", "same": "uapi-abi-x86_64-i386", "cut": "riscv-clang-defconfig+kvm"}  # fmt: skip
SOURCE = kcidb.Source(origin="orchestrator", logs="file:///srv/results/", tree_name="kvm", repository_url="https://git.kernel.org/kvm.git")


def document(source: kcidb.Source = SOURCE) -> dict:
    return kcidb.document(every_kind(), {cell: UNITS[unit] for cell, unit in AS_UNIT.items()}, source)


def builds(made: dict) -> dict[tuple[str, str], dict]:
    return {(b["checkout_id"].rsplit(":", 1)[1][:1], b["misc"]["cell"]): b for b in made["builds"]}


def test_every_kind_of_result_makes_a_valid_kcidb_v5_document():
    made = document()
    kcidb_io.schema.LATEST.validate(made)
    assert made["version"] == {"major": 5, "minor": kcidb_io.schema.LATEST.minor} and kcidb_io.schema.LATEST.major == 5


def test_a_checkout_per_commit_and_a_build_per_cell_with_ids_from_the_origin():
    made = document()
    assert [c["id"] for c in made["checkouts"]] == [f"orchestrator:{sha * 40}" for sha in "abc"]
    checkout = made["checkouts"][1]
    assert (checkout["git_commit_hash"], checkout["comment"], checkout["tree_name"]) == ("b" * 40, "b", "kvm")
    assert checkout["git_repository_url"] == "https://git.kernel.org/kvm.git"
    build = builds(made)[("b", "fails")]
    assert build["id"] == f"orchestrator:{'b' * 40}:fails" and build["checkout_id"] == f"orchestrator:{'b' * 40}"
    assert (build["architecture"], build["compiler"], build["config_name"]) == ("riscv", "gcc", "defconfig+kvm")
    assert build["log_url"] == f"file:///srv/results/{'b' * 40}/fails/build.log"
    assert build["config_url"] == f"file:///srv/results/{'b' * 40}/fails/config"
    assert build["log_excerpt"].startswith("arch/riscv/kvm/vcpu_sbi.c:87:26: error: 'struct <anonymous>' has no member named 'flags'\n")
    assert build["misc"]["diagnostics"][0]["fingerprint"] == "9d16" and build["duration"] == 11.0


def test_statuses_map_as_the_readme_says():
    found = builds(document())
    assert (found[("a", "fails")]["status"], found[("b", "fails")]["status"]) == ("PASS", "FAIL")
    assert found[("a", "host")]["status"] == "ERROR"  # INFRA: the build did not finish, the code's status is unknown
    assert found[("b", "host")]["status"] == "MISS"  # MATRIX-ERROR: the cell could not be run as declared
    assert found[("a", "host")]["misc"]["orchestrator_status"] == "infra"


def test_a_check_is_a_build_of_its_headers_with_a_test_of_their_layouts():
    made = document()
    build = builds(made)[("a", "same")]
    assert (build["architecture"], build["config_name"], build["status"]) == ("x86_64", "uapi headers x86_64/i386", "PASS")
    [test] = [t for t in made["tests"] if t["build_id"] == build["id"]]
    assert (test["path"], test["status"], test["id"]) == ("uapi_abi.x86_64_i386", "PASS", build["id"] + ":layouts")


def test_an_origin_or_a_log_url_from_the_matrix_is_used(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text("tree: {path: /src/linux}\naxes: {arch: [riscv], toolchain: [gcc]}\nkcidb: {origin: my_ci, log_url: 'https://ci.example.org/r/'}\n")
    settings = matrix.load(path).kcidb
    assert (settings.origin, settings.log_url) == ("my_ci", "https://ci.example.org/r/")
    made = document(kcidb.Source(origin=settings.origin, logs=settings.log_url or ""))
    kcidb_io.schema.LATEST.validate(made)
    assert made["builds"][0]["id"].startswith("my_ci:") and made["builds"][0]["log_url"].startswith("https://ci.example.org/r/")
    assert "git_repository_url" not in made["checkouts"][0]  # none known: left out, never made up


@pytest.mark.parametrize(
    "origin, message",
    [("My-CI", "kcidb.origin 'My-CI' must be lowercase letters, digits and _ (KCIDB's rule), e.g. my_ci"),
     ("", "kcidb.origin '' must be lowercase letters, digits and _ (KCIDB's rule), e.g. my_ci")],
)  # fmt: skip
def test_an_origin_kcidb_would_refuse_is_refused_in_the_matrix(tmp_path, origin, message):
    path = tmp_path / "matrix.yaml"
    path.write_text(f"tree: {{path: /src/linux}}\naxes: {{arch: [riscv], toolchain: [gcc]}}\nkcidb:\n  origin: '{origin}'\n")
    with pytest.raises(matrix.MatrixError) as raised:
        matrix.load(path)
    assert str(raised.value) == f"{path}:4: {message}"


def test_kcidbs_schema_refuses_a_bad_id_or_a_build_without_its_checkout():
    made = document()
    bad_id = copy.deepcopy(made)
    bad_id["builds"][0]["id"] = "no origin here"
    without = copy.deepcopy(made)
    del without["builds"][0]["checkout_id"]
    for broken in (bad_id, without):
        with pytest.raises(jsonschema.ValidationError):
            kcidb_io.schema.LATEST.validate(broken)


def test_a_log_excerpt_is_the_first_errors_and_never_longer_than_kcidb_takes():
    many = [Diagnostic("warning", "w.c", n, 1, "w" * 200, fingerprint=f"w{n}") for n in range(100)]
    root = Diagnostic("error", "e.c", 1, 1, "the error", fingerprint="e", root_cause=True)
    excerpt = kcidb.log_excerpt(BuildResult("c", "a" * 40, Status.FAIL, diagnostics=[*many, root]))
    assert excerpt.startswith("e.c:1:1: error: the error\n") and len(excerpt) <= kcidb.EXCERPT_LIMIT
    assert excerpt.endswith("w" * 200)  # cut at a line's end
    assert kcidb.log_excerpt(BuildResult("c", "a" * 40, Status.INFRA, reason="podman: no space left on device")) == "podman: no space left on device"


def test_the_document_is_json_with_every_subject_as_written():
    report = every_kind()
    report.rows[0].subject = "KVM: x86: \"quoted\" — ünïcode"
    text = kcidb.text(report, {}, SOURCE)
    assert json.loads(text)["checkouts"][0]["comment"] == "KVM: x86: \"quoted\" — ünïcode"
