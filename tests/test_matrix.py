"""matrix.yaml: loading, expansion into cells with stable ids, and validation errors that point at the line."""

import textwrap
from pathlib import Path

import pytest

from orchestrator import matrix
from orchestrator.errors import UserError as InputError

PROJECT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, fragments: dict | None = None) -> Path:
    configs = tmp_path / "configs"
    configs.mkdir(exist_ok=True)
    for name, body in (fragments or {"kvm.config": "CONFIG_KVM=y\n"}).items():
        (configs / name).parent.mkdir(parents=True, exist_ok=True)
        (configs / name).write_text(body)
    path = tmp_path / "matrix.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def error_of(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        matrix.load(path)
    return str(caught.value)


# --- the shipped matrix -----------------------------------------------------------------------


def test_shipped_matrix_has_the_cells_the_project_promises():
    loaded = matrix.load(PROJECT / "matrix.yaml")
    ids = [cell.id for cell in loaded.cells]
    assert ids == [
        "x86_64-gcc-defconfig+kvm",
        "x86_64-clang-defconfig+kvm",
        "arm64-gcc-defconfig+kvm",
        "arm64-clang-defconfig+kvm",
        "riscv-gcc-defconfig+kvm",
        "riscv-clang-defconfig+kvm",
        "x86_64-gcc-defconfig+kvm+nocompat",
        "x86_64-gcc-defconfig+kvm+x32",
        "i386-gcc-defconfig+kvm",
    ]


def test_shipped_cells_enable_what_they_name():
    cells = {cell.id: cell for cell in matrix.load(PROJECT / "matrix.yaml").cells}
    x86 = cells["x86_64-gcc-defconfig+kvm"]
    assert x86.required_options == {
        "CONFIG_VIRTUALIZATION": "y",
        "CONFIG_KVM": "y",
        "CONFIG_KVM_INTEL": "y",
        "CONFIG_KVM_AMD": "y",
        "CONFIG_KVM_AMD_SEV": "y",
        "CONFIG_CRYPTO_HW": "y",
        "CONFIG_CRYPTO_DEV_CCP": "y",
        "CONFIG_CRYPTO_DEV_CCP_DD": "y",
        "CONFIG_CRYPTO_DEV_SP_PSP": "y",
    }
    assert x86.targets == ("config",) and x86.make_targets == ("arch/x86/kvm/",)
    assert cells["riscv-gcc-defconfig+kvm"].make_targets == ("arch/riscv/kvm/",)
    assert cells["arm64-clang-defconfig+kvm"].make_variables == (("LLVM", "1"),)
    assert cells["arm64-gcc-defconfig+kvm"].make_variables == ()
    nocompat = cells["x86_64-gcc-defconfig+kvm+nocompat"].required_options
    assert nocompat["CONFIG_IA32_EMULATION"] == "n" and nocompat["CONFIG_X86_X32_ABI"] == "n"
    assert cells["x86_64-gcc-defconfig+kvm+x32"].required_options["CONFIG_X86_X32_ABI"] == "y"
    i386 = cells["i386-gcc-defconfig+kvm"].required_options
    assert "CONFIG_KVM_AMD_SEV" not in i386 and i386["CONFIG_KVM_INTEL"] == "y"


# --- expansion --------------------------------------------------------------------------------


def test_axes_multiply_and_exclude_removes(tmp_path):
    path = write(
        tmp_path,
        """
        axes:
          arch: [arm64, riscv]
          toolchain: [gcc, clang]
        exclude:
          - {arch: riscv, toolchain: clang}
        """,
    )
    assert [c.id for c in matrix.load(path).cells] == ["arm64-gcc-defconfig", "arm64-clang-defconfig", "riscv-gcc-defconfig"]


def test_ids_do_not_depend_on_position(tmp_path):
    first = write(tmp_path, "include:\n  - {arch: riscv}\n  - {arch: arm64}\n")
    ids_first = {c.id: c.definition for c in matrix.load(first).cells}
    second = write(tmp_path, "include:\n  - {arch: arm64}\n  - {arch: riscv}\n")
    assert {c.id: c.definition for c in matrix.load(second).cells} == ids_first


def test_fragment_name_layers_the_arch_specific_file(tmp_path):
    path = write(
        tmp_path,
        "include:\n  - {arch: x86_64, fragments: [kvm]}\n  - {arch: riscv, fragments: [kvm]}\n",
        {"kvm.config": "CONFIG_KVM=y\n", "x86_64/kvm.config": "CONFIG_KVM_INTEL=y\n# CONFIG_KVM is not set\n"},
    )
    x86, riscv = matrix.load(path).cells
    assert [f.path for f in x86.fragments] == ["kvm.config", "x86_64/kvm.config"]
    assert x86.required_options == {"CONFIG_KVM": "n", "CONFIG_KVM_INTEL": "y"}  # later fragments win
    assert riscv.required_options == {"CONFIG_KVM": "y"}


def test_target_sets_and_explicit_targets(tmp_path):
    path = write(
        tmp_path,
        """
        include:
          - {arch: arm64, targets: kernel}
          - {arch: arm64, targets: [config, "arch/arm64/kvm/", "virt/kvm/"]}
        """,
    )
    kernel, explicit = matrix.load(path).cells
    assert kernel.id == "arm64-gcc-defconfig@kernel"
    assert kernel.targets == ("config", "kernel") and kernel.make_targets == ()
    assert explicit.make_targets == ("arch/arm64/kvm/", "virt/kvm/")
    assert explicit.id == "arm64-gcc-defconfig@config+arch_arm64_kvm+virt_kvm"


def test_changing_a_fragment_changes_the_definition_not_the_id(tmp_path):
    path = write(tmp_path, "include:\n  - {arch: riscv, fragments: [kvm]}\n")
    before = matrix.load(path).cells[0]
    (tmp_path / "configs" / "kvm.config").write_text("CONFIG_KVM=m\n")
    after = matrix.load(path).cells[0]
    assert before.id == after.id and before.definition != after.definition


def test_tree_path_is_relative_to_the_matrix_file(tmp_path):
    path = write(tmp_path, "tree: {path: ../linux}\ninclude:\n  - {arch: riscv}\n")
    assert matrix.load(path).tree.path == (tmp_path.parent / "linux").resolve()


def test_select_by_glob():
    cells = matrix.load(PROJECT / "matrix.yaml").cells
    assert [c.id for c in matrix.select(cells, ["*-gcc-defconfig+kvm"])] == [
        "x86_64-gcc-defconfig+kvm",
        "arm64-gcc-defconfig+kvm",
        "riscv-gcc-defconfig+kvm",
        "i386-gcc-defconfig+kvm",
    ]
    with pytest.raises(InputError, match="--cells nope: matches no cell"):
        matrix.select(cells, ["nope"], label="--cells")  # the command line names its option


# --- validation: one line naming file, line, field and what is allowed ------------------------


def test_unknown_arch_names_line_and_allowed_values(tmp_path):
    path = write(tmp_path, "axes:\n  arch:\n    - riscv\n    - risc-v\n")
    assert error_of(path) == f"{path}:4: arch 'risc-v' is not one of: x86_64, i386, arm64, riscv, alpha, arc, ..."


def test_unknown_toolchain(tmp_path):
    path = write(tmp_path, "include:\n  - arch: riscv\n    toolchain: icc\n")
    assert error_of(path).startswith(f"{path}:3: toolchain 'icc' is not one of: gcc, clang,")


def test_unknown_field(tmp_path):
    path = write(tmp_path, "include:\n  - {arch: riscv, compiler: gcc}\n")
    assert error_of(path) == (
        f"{path}:2: include: unknown field 'compiler'; allowed: arch, toolchain, kconfig, fragments, targets, "
        "make_variables, runtime"
    )


def test_malformed_yaml(tmp_path):
    path = write(tmp_path, "axes:\n  arch: [riscv\n")
    assert error_of(path).startswith(f"{path}:3: not valid YAML:")


def test_missing_matrix_file(tmp_path):
    with pytest.raises(InputError, match="cannot read the matrix file"):
        matrix.load(tmp_path / "nope.yaml")


def test_fragment_leaving_configs_is_refused(tmp_path):
    (tmp_path / "evil.config").write_text("CONFIG_KVM=y\n")
    path = write(tmp_path, "include:\n  - {arch: riscv, fragments: [../evil.config]}\n")
    assert error_of(path) == f"{path}:2: fragment '../evil.config' leaves {tmp_path / 'configs'}/; fragments must live in it"


def test_missing_fragment(tmp_path):
    path = write(tmp_path, "include:\n  - {arch: riscv, fragments: [kvm, nope]}\n")
    assert "fragment 'nope': no nope.config in" in error_of(path)


def test_fragment_with_a_bad_line(tmp_path):
    path = write(tmp_path, "include:\n  - {arch: riscv, fragments: [kvm]}\n", {"kvm.config": "CONFIG_KVM=y\nKVM=y\n"})
    assert error_of(path) == (
        f"{tmp_path / 'configs' / 'kvm.config'}:2: 'KVM=y' is not a Kconfig line; "
        "write CONFIG_FOO=y or '# CONFIG_FOO is not set'"
    )


def test_bad_targets(tmp_path):
    path = write(tmp_path, "include:\n  - {arch: riscv, targets: everything}\n")
    assert error_of(path) == f"{path}:2: targets 'everything' is not one of: kvm, kernel, modules (or a list of targets)"
    path = write(tmp_path, "include:\n  - {arch: riscv, targets: [config, /etc/]}\n")
    assert "target '/etc/' is neither a tuxmake target" in error_of(path)


def test_kconfig_must_be_a_make_target_name(tmp_path):
    path = write(tmp_path, "include:\n  - {arch: riscv, kconfig: '--evil'}\n")
    assert "kconfig '--evil' must be a make config target" in error_of(path)


def test_forbidden_make_variable(tmp_path):
    path = write(tmp_path, "include:\n  - {arch: riscv, make_variables: {ARCH: arm}}\n")
    assert "make_variables 'ARCH' is not allowed" in error_of(path)


def test_duplicate_ids_with_different_definitions(tmp_path):
    path = write(
        tmp_path,
        "include:\n  - {arch: riscv}\n  - {arch: riscv, make_variables: {W: '1'}}\n",
    )
    assert "two different cells have the id 'riscv-gcc-defconfig'" in error_of(path)


def test_identical_duplicates_collapse(tmp_path):
    path = write(tmp_path, "axes:\n  arch: [riscv]\ninclude:\n  - {arch: riscv}\n")
    assert [c.id for c in matrix.load(path).cells] == ["riscv-gcc-defconfig"]


def test_no_cells(tmp_path):
    path = write(tmp_path, "defaults: {toolchain: gcc}\n")
    assert error_of(path) == f"{path}: declares no cells: add `axes`, `include` or `checks`"


# --- checks -------------------------------------------------------------------------------------------


def test_uapi_abi_is_one_check_per_abi_pair_after_the_cells(tmp_path):
    loaded = matrix.load(write(tmp_path, "include:\n  - {arch: riscv}\nchecks: [uapi-abi]\n"))
    assert [u.id for u in loaded.units] == [
        "riscv-gcc-defconfig", "uapi-abi-x86_64-i386", "uapi-abi-x86_64-x32", "uapi-abi-arm64-arm", "uapi-abi-riscv64-riscv32"
    ]  # fmt: skip
    assert {(c.wide, c.narrow, c.headers) for c in loaded.checks} >= {("x86_64", "i386", ())}


def test_uapi_abi_narrowed_to_headers_and_pairs_alone_needs_no_cells(tmp_path):
    loaded = matrix.load(write(tmp_path, "checks:\n  uapi-abi: {headers: [linux/kvm.h], pairs: [x86_64-i386]}\n"))
    assert loaded.cells == [] and [(c.id, c.headers) for c in loaded.checks] == [("uapi-abi-x86_64-i386", ("linux/kvm.h",))]
    wider = matrix.load(write(tmp_path, "checks:\n  uapi-abi: {headers: [linux/kvm.h, linux/types.h], pairs: [x86_64-i386]}\n"))
    assert wider.checks[0].definition != loaded.checks[0].definition  # another scope: never its baseline


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("checks: [abi]\n", ":1: checks: 'abi' is not a check; known: uapi-abi"),
        (
            "checks:\n  uapi-abi:\n    pairs: [x86_64-arm]\n",
            ":3: checks.uapi-abi.pairs: 'x86_64-arm' is not one of: x86_64-i386, x86_64-x32, arm64-arm, riscv64-riscv32",
        ),
        (
            "checks:\n  uapi-abi:\n    headers: [../etc/passwd.h]\n",
            ":3: checks.uapi-abi.headers: '../etc/passwd.h' must be a header as userspace includes it, such as linux/kvm.h",
        ),
        ("checks:\n  uapi-abi: {header: [linux/kvm.h]}\n", ":2: checks.uapi-abi: unknown field 'header'; allowed: headers, pairs"),
    ],
)
def test_a_wrong_check_is_named_at_its_line(tmp_path, text, message):
    path = write(tmp_path, text)
    assert error_of(path) == f"{path}{message}"


def test_bad_jobs(tmp_path):
    path = write(tmp_path, "defaults:\n  jobs: many\ninclude:\n  - {arch: riscv}\n")
    assert error_of(path) == f"{path}:2: jobs 'many' must be a number from 1 to 1024, or 'auto'"


def test_tree_needs_path_or_url(tmp_path):
    path = write(tmp_path, "tree: {branches: [master]}\ninclude:\n  - {arch: riscv}\n")
    assert "tree needs exactly one of `path`" in error_of(path)
    path = write(tmp_path, "tree: {url: x, branches: ['--upload-pack=evil']}\ninclude:\n  - {arch: riscv}\n")
    assert "may not begin with '-'" in error_of(path)


def test_trees_list_each_with_a_name_for_the_nightly(tmp_path):
    path = write(
        tmp_path,
        """\
        trees:
          - {url: "https://git.kernel.org/pub/scm/virt/kvm/kvm.git", branches: [next, queue]}
          - {name: mine, path: ../linux}
        nightly: {keep_days: 7, disk_budget: 5G, verify_reuse: 0.1}
        include:
          - {arch: riscv}
        """,
    )
    loaded = matrix.load(path)
    assert [(t.name, t.branches) for t in loaded.trees] == [("kvm", ["next", "queue"]), ("mine", [])]
    assert loaded.tree is loaded.trees[0]
    assert (loaded.nightly.keep_days, loaded.nightly.disk_budget, loaded.nightly.verify_reuse) == (7, 5 * 1024**3, 0.1)
    assert matrix.load(write(tmp_path, "include:\n  - {arch: riscv}\n")).nightly.verify_reuse == 0  # no audit unless asked


def test_a_reuse_audit_fraction_outside_0_to_1_says_so(tmp_path):
    path = write(tmp_path, "nightly: {verify_reuse: 10}\ninclude:\n  - {arch: riscv}\n")
    assert error_of(path) == f"{path}:1: nightly.verify_reuse '10' must be a fraction from 0 to 1, such as 0.1"


def test_trees_need_distinct_names_and_not_both_forms(tmp_path):
    path = write(tmp_path, "trees:\n  - {url: a/linux.git}\n  - {path: b/linux}\ninclude:\n  - {arch: riscv}\n")
    assert error_of(path) == f"{path}:3: two trees are named 'linux'; give each a different `name` (reports and nightly state use it)"
    path = write(tmp_path, "tree: {path: x}\ntrees: [{path: y}]\ninclude:\n  - {arch: riscv}\n")
    assert "give either `tree` (one tree) or `trees` (a list), not both" in error_of(path)


def test_bad_retention_settings(tmp_path):
    path = write(tmp_path, "nightly: {keep_days: -1}\ninclude:\n  - {arch: riscv}\n")
    assert error_of(path) == f"{path}:1: nightly.keep_days '-1' must be a number of days (0 or more)"
    path = write(tmp_path, "nightly:\n  disk_budget: lots\ninclude:\n  - {arch: riscv}\n")
    assert error_of(path) == f"{path}:2: nightly.disk_budget 'lots' must be a size such as 20G, 500M or 'unlimited'"
    path = write(tmp_path, "nightly: {keep: 3}\ninclude:\n  - {arch: riscv}\n")
    assert "nightly: unknown field 'keep'; allowed: keep_days, disk_budget" in error_of(path)


# --- what tuxmake or the host would only refuse later ---------------------------------------------


def test_an_exclude_that_matches_nothing_is_refused(tmp_path):
    path = write(tmp_path, "axes:\n  arch: [riscv, arm64]\nexclude:\n  - {arch: riscv}\n  - {arch: x86_64, toolchain: clang}\n")
    assert error_of(path) == f"{path}:5: exclude {{arch: x86_64, toolchain: clang}} matches no cell of the axes; fix it or remove it"


def test_a_matrix_or_fragment_that_is_not_utf8_names_its_line_and_column(tmp_path):
    path = write(tmp_path, "axes:\n  arch: [riscv]\n")
    path.write_bytes(b"axes:\n  arch: [riscv]  # caf\xe9\n")
    assert error_of(path) == f"{path}:2: not UTF-8 (byte 0xe9 at column 23); save the file as UTF-8"
    path = write(tmp_path, "include:\n  - {arch: riscv, fragments: [kvm]}\n", {"kvm.config": "CONFIG_KVM=y\n"})
    (tmp_path / "configs" / "kvm.config").write_bytes(b"# \xff\nCONFIG_KVM=y\n")
    assert error_of(path) == f"{tmp_path / 'configs' / 'kvm.config'}:1: not UTF-8 (byte 0xff at column 3); save the file as UTF-8"


def test_versioned_toolchains_are_cells_of_their_own_with_their_family_make_variables(tmp_path):
    path = write(tmp_path, "axes:\n  arch: [riscv]\n  toolchain: [gcc-12, clang-14]\n")
    cells = {c.id: c for c in matrix.load(path).cells}
    assert sorted(cells) == ["riscv-clang-14-defconfig", "riscv-gcc-12-defconfig"]
    assert cells["riscv-clang-14-defconfig"].make_variables == (("LLVM", "1"),)


def test_an_arch_and_toolchain_tuxmake_has_no_container_for_is_refused_at_plan_time(tmp_path):
    path = write(tmp_path, "include:\n  - {arch: riscv}\n  - {arch: arc, toolchain: clang, runtime: podman}\n")
    assert error_of(path) == (
        f"{path}:3: tuxmake has no podman image for arch 'arc' with toolchain 'clang' (it refuses the pair); "
        "pick another toolchain or the null runtime"
    )
    # On the host, the host's compilers decide: a missing one is found when the cell builds (INFRA).
    assert [c.id for c in matrix.load(write(tmp_path, "include:\n  - {arch: arc, toolchain: clang}\n")).cells] == ["arc-clang-defconfig"]


def test_make_variables_tuxmake_reserves_are_refused_at_plan_time(tmp_path):
    path = write(tmp_path, "include:\n  - {arch: riscv, make_variables: {INSTALL_MOD_PATH: /x}}\n")
    assert error_of(path).startswith(f"{path}:2: make_variables 'INSTALL_MOD_PATH' is not allowed; use upper-case names other than ")


def test_retries(tmp_path):
    assert matrix.load(write(tmp_path, "include:\n  - {arch: riscv}\n")).retries == 1
    assert matrix.load(write(tmp_path, "retries: 0\ninclude:\n  - {arch: riscv}\n")).retries == 0
    path = write(tmp_path, "retries: lots\ninclude:\n  - {arch: riscv}\n")
    assert error_of(path) == f"{path}:1: retries 'lots' must be a number from 0 to 5"


# --- the schema ---------------------------------------------------------------------------------


def test_the_shipped_schema_names_what_tuxmake_and_the_code_know():
    """The schema is a data file (editors read it too): it must not drift from tuxmake's lists."""
    defs = matrix.SCHEMA["$defs"]
    assert defs["arch"]["enum"] == list(matrix.ARCHES)
    assert defs["toolchain"]["anyOf"][0]["enum"] == list(matrix.TOOLCHAINS)
    assert defs["runtime"]["enum"] == list(matrix.RUNTIMES)
    assert defs["targets"]["else"]["enum"] == list(matrix.TARGET_SETS)
    assert list(matrix.BUILTIN_DEFAULTS) == [k for k in matrix.SCHEMA["properties"]["defaults"]["properties"] if k not in ("arch", "jobs")]


def test_the_shipped_matrix_validates_against_the_schema_as_editors_see_it():
    import jsonschema
    import yaml

    jsonschema.validate(yaml.safe_load((PROJECT / "matrix.yaml").read_text()), matrix.SCHEMA)


@pytest.mark.parametrize(
    "text, message",
    [
        ("include: {arch: riscv}\n", ":1: include must be a list"),
        ("axes: [riscv]\n", ":1: axes must be a mapping"),
        ("axes:\n  arch: []\n", ":2: axes.arch must be a non-empty list"),
        ("include:\n  - riscv\n", ":2: include entries must be mappings such as {arch: i386}"),
        ("include:\n  - {arch: riscv, runtime: lxc}\n", ":2: runtime 'lxc' is not one of: null, podman, docker, podman-local, docker-local, auto"),
        ("include:\n  - {arch: riscv, make_variables: [W=1]}\n", ":2: make_variables must be a mapping such as {W: 1}"),
        ("include:\n  - {toolchain: clang}\n", ":2: a cell has no arch: give one in axes, defaults or the include entry"),
        ("tree: {url: x, branches: ['']}\ninclude:\n  - {arch: riscv}\n", ":1: tree.branches must be a list of branch names"),
        ("nightly: 7\ninclude:\n  - {arch: riscv}\n", ":1: nightly must be a mapping"),
        ("executor: dask://nowhere\ninclude:\n  - {arch: riscv}\n", ":1: executor 'dask://nowhere' must be local, dask://HOST:PORT or tls://HOST:PORT"),
        ("executor: {source_url: x}\ninclude:\n  - {arch: riscv}\n", ":1: executor needs an `address`: local, dask://HOST:PORT or tls://HOST:PORT"),
        (
            "executor:\n  address: tls://10.0.0.1:8786\n  tls: {key: \"-----BEGIN PRIVATE KEY-----\\nMII\"}\ninclude:\n  - {arch: riscv}\n",
            ":3: executor.tls.key must be the path of a file (never the key itself)",
        ),
        (
            "include:\n  - {arch: riscv}\nbogus: 1\n",
            ":3: top level: unknown field 'bogus'; allowed: tree, trees, nightly, retries, timeout, executor, kcidb, defaults, axes, include, "
            "exclude, accepted, checks",
        ),
        (
            "include:\n  - {arch: riscv}\naxes:\n  arch: [riscv]\n  kconfig: ['-x']\n",
            ":5: kconfig '-x' must be a make config target such as defconfig or tinyconfig",
        ),
    ],
)
def test_each_rule_of_the_schema_says_what_is_wrong_at_its_line(tmp_path, text, message):
    path = write(tmp_path, text)
    assert error_of(path) == f"{path}{message}"


def test_the_executor_is_local_unless_the_matrix_names_a_scheduler_and_certificate_paths_are_the_matrix_files(tmp_path):
    assert matrix.load(write(tmp_path, "include:\n  - {arch: riscv}\n")).executor == matrix.ExecutorSettings()
    text = "executor:\n  address: dask://10.0.0.1:8786\n  source_url: git://10.0.0.2/linux.git\n  tls: {ca_file: ca.pem, cert: c.pem, key: k.pem}\n"
    loaded = matrix.load(write(tmp_path, text + "include:\n  - {arch: riscv}\n")).executor
    assert (loaded.address, loaded.source_url, loaded.is_local) == ("tcp://10.0.0.1:8786", "git://10.0.0.2/linux.git", False)
    assert (loaded.tls_ca_file, loaded.tls_cert, loaded.tls_key) == tuple(str(tmp_path / name) for name in ("ca.pem", "c.pem", "k.pem"))
    assert matrix.executor_address("tls://h:1") == "tls://h:1" and matrix.executor_address("local") == "local"


def test_of_several_problems_the_first_in_the_file_is_told(tmp_path):
    path = write(tmp_path, "axes:\n  arch: [risc-v]\ninclude:\n  - {arch: riscv, toolchain: icc}\n")
    assert error_of(path).startswith(f"{path}:2: arch 'risc-v' is not one of")


def test_the_accepted_file_the_matrix_names_gives_each_check_and_cell_its_known_findings(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "accepted.txt").write_text("uapi-abi-x86_64-i386\tf1\tshown\nriscv-gcc-defconfig\tw1\tshown\n")
    path = tmp_path / "matrix.yaml"
    path.write_text("accepted: configs/accepted.txt\ninclude:\n  - {arch: riscv}\nchecks: {uapi-abi: {pairs: [x86_64-i386, x86_64-x32]}}\n")
    loaded = matrix.load(path)
    assert loaded.accepted == tmp_path / "configs" / "accepted.txt"
    assert {u.id: u.accepted for u in loaded.units} == {
        "riscv-gcc-defconfig": frozenset({"w1"}),
        "uapi-abi-x86_64-i386": frozenset({"f1"}),
        "uapi-abi-x86_64-x32": frozenset(),
    }
    # a result judged with another accepted set is never compared with one judged with this set
    path.write_text(path.read_text().replace("accepted: configs/accepted.txt\n", ""))
    plain = {u.id: u.definition for u in matrix.load(path).units}
    assert plain["uapi-abi-x86_64-i386"] != loaded.checks[0].definition and plain["uapi-abi-x86_64-x32"] == loaded.checks[1].definition


@pytest.mark.parametrize("value", ["/etc/passwd", "../elsewhere.txt", "configs/../../x.txt", "a b.txt"])
def test_an_accepted_file_outside_the_matrixs_directory_is_refused(tmp_path, value):
    path = tmp_path / "matrix.yaml"
    path.write_text(f"accepted: '{value}'\ninclude:\n  - {{arch: riscv}}\n")
    with pytest.raises(InputError, match=rf"^{path}:1: accepted '.*' must be a file below the matrix's directory"):
        matrix.load(path)
