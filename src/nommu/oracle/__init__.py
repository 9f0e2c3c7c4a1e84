"""The oracle: a scenario on the model and on a real no-MMU kernel, compared (docs/oracle.md).

- :mod:`nommu.oracle.script`: the scenario as a list of probe ops (the supported subset);
- :mod:`nommu.oracle.toolchain`: the host tools, the probe (``probe.c``) and parked programs;
- :mod:`nommu.oracle.initramfs`: the newc cpio writer;
- :mod:`nommu.oracle.qemu`: one boot per batch of cases, the probe's output parsed;
- :mod:`nommu.oracle.model_side`: the same ops on a ``Machine`` with the kernel's profile;
- :mod:`nommu.oracle.compare`: what must agree, op by op;
- :mod:`nommu.oracle.runner`: both sides and the report;
- :mod:`nommu.oracle.kernel_build`: a kernel from Debian's linux-source package.
"""
