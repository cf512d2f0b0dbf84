/* Stand-in for glibc's gnu/stubs-ilp32d.h, which Debian's riscv64 glibc does not ship (there is no
 * riscv32 glibc in Debian). glibc lists in it the functions it does not implement, as __stub_ macros;
 * the uapi-abi check compiles headers only and calls no function, so it needs none of them. */
