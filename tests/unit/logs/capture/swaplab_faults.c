// SPDX-License-Identifier: GPL-2.0
/*
 * swaplab_faults: provoke real kernel failure reports, so that the detector's
 * golden logs are what a kernel really prints, not what we think it prints.
 * Each write to /sys/module/swaplab_faults/parameters/<fault> triggers one.
 * Never load this on anything but a throwaway VM.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/kthread.h>
#include <linux/delay.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/rcupdate.h>

#define MAX_BLOCKS 4096
static struct page *blocks[MAX_BLOCKS];

static struct rcu_head spin_rcu;
static void spin_rcu_cb(struct rcu_head *head) { }

static int hang_fn(void *unused)
{
	set_current_state(TASK_UNINTERRUPTIBLE);
	schedule_timeout(40 * HZ);
	return 0;
}

/* Oopses run in a kthread of their own: the dying task holds no lock of ours. */
static int null_fn(void *unused)
{
	*(volatile int *)NULL = 1;
	return 0;
}

static int bug_fn(void *unused)
{
	BUG();
	return 0;
}

static int trigger(const char *val, const struct kernel_param *kp)
{
	const char *dot = strrchr(kp->name, '.');
	const char *fault = dot ? dot + 1 : kp->name;
	int i, n = 0;

	if (!strcmp(fault, "warn")) {
		WARN_ON(1);
	} else if (!strcmp(fault, "hung")) {
		kthread_run(hang_fn, NULL, "swaplab_hang");
	} else if (!strcmp(fault, "spin")) {
		/* A pending callback starts a grace period that the spin stalls. */
		call_rcu(&spin_rcu, spin_rcu_cb);
		preempt_disable();
		mdelay(30000);
		preempt_enable();
	} else if (!strcmp(fault, "alloc")) {
		for (i = 0; i < MAX_BLOCKS; i++) {
			blocks[i] = alloc_pages(GFP_ATOMIC, 10);
			if (!blocks[i])
				break;
			n++;
		}
		for (i = 0; i < n; i++)
			__free_pages(blocks[i], 10);
	} else if (!strcmp(fault, "null")) {
		kthread_run(null_fn, NULL, "swaplab_null");
	} else if (!strcmp(fault, "bug")) {
		kthread_run(bug_fn, NULL, "swaplab_bug");
	}
	return 0;
}

static const struct kernel_param_ops trigger_ops = { .set = trigger };
module_param_cb(warn, &trigger_ops, NULL, 0200);
module_param_cb(hung, &trigger_ops, NULL, 0200);
module_param_cb(spin, &trigger_ops, NULL, 0200);
module_param_cb(alloc, &trigger_ops, NULL, 0200);
module_param_cb(null, &trigger_ops, NULL, 0200);
module_param_cb(bug, &trigger_ops, NULL, 0200);

static int __init swaplab_faults_init(void) { return 0; }
static void __exit swaplab_faults_exit(void) { }
module_init(swaplab_faults_init);
module_exit(swaplab_faults_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Provoke kernel failure reports for swaplab's golden logs");
