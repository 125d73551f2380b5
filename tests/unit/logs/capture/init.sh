#!/bin/busybox sh
# PID 1 of the capture VM: provoke each failure once, then dump the log in
# every format and panic.  Runs under QEMU only.
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
P=/sys/module/swaplab_faults/parameters
step() { echo "=== step: $* ==="; }
echo 5 > /proc/sys/kernel/hung_task_timeout_secs
echo -1 > /proc/sys/kernel/hung_task_warnings
echo 5 > /proc/sys/kernel/watchdog_thresh
step oom; echo 1 > /proc/sys/vm/overcommit_memory; /hog 600; sleep 1
step swap; insmod /brd.ko rd_nr=1 rd_size=65536; mkswap /dev/ram0 >/dev/null; swapon /dev/ram0; swapoff /dev/ram0
insmod /swaplab_faults.ko
step warn; echo 1 > $P/warn
step alloc; echo 1 > $P/alloc
step hung; echo 1 > $P/hung; sleep 12; echo w > /proc/sysrq-trigger; sleep 1
step spin; echo 1 > $P/spin
step null; echo 1 > $P/null; sleep 2
step bug; echo 1 > $P/bug; sleep 2
dmesg -n 1
echo "=== dump: dmesg-raw ==="; dmesg -r; echo "=== end ==="
echo "=== dump: kmsg ==="; cat /dev/kmsg & sleep 3; kill $!; echo; echo "=== end ==="
echo 8 > /proc/sys/kernel/printk
step panic; echo c > /proc/sysrq-trigger
