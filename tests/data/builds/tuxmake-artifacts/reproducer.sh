#!/bin/sh
set -eu
exec tuxmake \
  --target-arch=riscv \
  --kconfig=defconfig \
  --kconfig-add=/tmp/h/sig/r-pass/1451fda175bfa430829c50594fce2b7a0a87b953/riscv-gcc-defconfig+kvm/fragments/0-kvm.config \
  --make-target=arch/riscv/kvm/ \
  --toolchain=gcc \
  --wrapper=ccache \
  --environment=KBUILD_BUILD_TIMESTAMP=@1670768100 \
  --environment=KBUILD_BUILD_USER=tuxmake \
  --environment=KBUILD_BUILD_HOST=tuxmake \
  --runtime=null \
  --quiet \
  --image=docker.io/tuxmake/riscv_gcc \
  config
