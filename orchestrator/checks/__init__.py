"""Checks: judgements of a commit that are not tuxmake builds, stored, judged and shown like cells.

`uapi_abi` compares the uapi struct layouts of each 64-bit ABI with its 32-bit (compat) one: the bug a
build matrix cannot see (README: The uapi ABI check). Its modules: `headers` (headers_install, cached),
`layouts` (compile per ABI), `dwarf` (read the layouts), `records` (what they are), `compare` (pure: the
differences and their classes), `cache` (pruned by last use) and `uapi_abi` (one request in, a result out).
"""
