"""headers: what a uapi header includes, read as the compiler would, and so which headers are left out."""

from orchestrator.checks import headers

DRM_H = """#ifndef _DRM_H_
#define _DRM_H_

#if   defined(__linux__)

#include <linux/types.h>
#include <asm/ioctl.h>
typedef unsigned int drm_handle_t;

#else /* One of the BSDs */

#include <stdint.h>
#include <sys/ioccom.h>
#include <sys/types.h>
#endif
"""  # include/uapi/drm/drm.h of Linux 6.1 as headers_install leaves it (the __KERNEL__ branch gone)
INSTALLED = {"drm/drm.h", "drm/drm_mode.h", "linux/types.h", "asm/ioctl.h", "linux/input.h", "linux/input-event-codes.h"}


def test_a_branch_for_another_system_after_one_for_linux_is_never_read():
    """All 27 DRM headers were once left out: "need <sys/ioccom.h>, which only libc provides"."""
    assert headers.includes_of("drm/drm.h", DRM_H, INSTALLED) == ["linux/types.h", "asm/ioctl.h"]


def test_a_quoted_include_is_the_header_beside_it_first():
    assert headers.includes_of("drm/drm_mode.h", '#include "drm.h"\n', INSTALLED) == ["drm/drm.h"]
    assert headers.includes_of("linux/input.h", '#include "input-event-codes.h"\n', INSTALLED) == ["linux/input-event-codes.h"]
    assert headers.includes_of("linux/x.h", '#include "nowhere.h"\n', INSTALLED) == ["nowhere.h"]


def test_other_conditionals_hide_nothing():
    text = "#ifdef __KERNEL__\n#include <a.h>\n#else\n#include <b.h>\n#endif\n#ifndef __linux__\n#include <c.h>\n#endif\n"
    text += "#if defined(__linux__)\n#include <d.h>\n#elif defined(__FreeBSD__)\n#include <e.h>\n#endif\n"
    assert headers.includes_of("linux/x.h", text, INSTALLED) == ["a.h", "b.h", "c.h", "d.h"]


def test_the_drm_headers_and_what_includes_them_are_in_scope(tmp_path):
    include = tmp_path / "include"
    for name, text in {
        "drm/drm.h": DRM_H,
        "drm/drm_mode.h": '#include "drm.h"\nstruct drm_mode_modeinfo { int x; };\n',
        "linux/types.h": "",
        "asm/ioctl.h": "",
        "linux/needs_libc.h": "#include <sys/socket.h>\n#include <stdint.h>\n",
        "linux/needs_xen.h": "#include <xen/interface/xen.h>\n",
    }.items():
        (include / name).parent.mkdir(parents=True, exist_ok=True)
        (include / name).write_text(text)
    kept, left_out = headers.scope(include)
    assert kept == ["asm/ioctl.h", "drm/drm.h", "drm/drm_mode.h", "linux/needs_libc.h", "linux/types.h"]  # the ABI's libc has <sys/socket.h>
    assert left_out == {"linux/needs_xen.h": "needs <xen/interface/xen.h>, which this ARCH does not install"}


def test_the_kernels_own_header_test_skips_are_read_from_the_tree(tmp_path):
    (tmp_path / "usr" / "include").mkdir(parents=True)
    makefile = "no-header-test += linux/patchkey.h\nno-header-test += xen/gntdev.h\nheader-test-y += x.h\n"
    (tmp_path / "usr" / "include" / "Makefile").write_text(makefile)
    assert headers.kernel_test_skips(tmp_path) == {"linux/patchkey.h", "xen/gntdev.h"}
    assert headers.kernel_test_skips(tmp_path / "elsewhere") == frozenset()  # no such tree: none


def test_a_headers_closure_is_every_installed_header_it_reaches(tmp_path):
    """What the layouts compile uses to drop at once every header that reaches one that failed (asm/signal.h
    after libc's <signal.h>), instead of one a round."""
    for name, text in {"linux/a.h": "#include <linux/b.h>\n", "linux/b.h": '#include "c.h"\n#include <sys/socket.h>\n', "linux/c.h": ""}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert headers.closures(tmp_path, ["linux/a.h", "linux/c.h"]) == {"linux/a.h": {"linux/b.h", "linux/c.h"}, "linux/c.h": frozenset()}
