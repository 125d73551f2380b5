"""A simulated rack: the real controller against N simulated blades on one machine (``swaplab.sim.rack``).

The virtual lab proves the kernel path on one or two QEMU blades; a rack of tens to hundreds cannot be
emulated on two cores. What a rack costs the *controller* (processes, memory, CPU, ssh, BMC sessions,
console streams, journal, recoveries) does not need a kernel, so each simulated blade is made of the
real parts swaplab talks to, less the kernel:

- an **sshd** of its own (OpenSSH, host key checked) on its own loopback address, whose sessions run
  in the blade's own mount namespace: the real ``job.sh``, the real sampler, with the blade's swap
  and kernel interfaces (``/proc/swaps``, ``/proc/vmstat``, ``/dev/kmsg``, ``swapon``, ``dmesg``) bound
  to the blade's files, so nothing on the host is switched off or dropped;
- a **BMC**: OpenIPMI's ``ipmi_sim`` (RMCP+, a password, one SOL payload) on its own address, whose
  chassis control powers the simulated blade on and off;
- a **console**: the blade's serial line, reached by the BMC's Serial-over-LAN as a telnet server,
  carrying what the blade prints (boot lines, the sampler's heartbeats from ``/dev/kmsg``, sysrq answers);
- a shared **NAS** host (sshd) for the NAS prober.

The hog is the one part replaced: ``swaplab.sim.fakehog`` sleeps through a trial and reports the
figures a trial reports (100 blades of real hogs would measure the host, not the controller).
``swaplab.sim.rackd`` (one asyncio process) plays every blade's power, serial line and faults.
"""
