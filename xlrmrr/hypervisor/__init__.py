"""The hypervisor at device assignment: shared-RMRR rule, identity maps, refcounts.

results.py: what XEN_DOMCTL_assign_device leaves (page runs, identity maps, per device);
assignment.py: the assignment itself, device by device in libxl's order;
messages.py: Xen's console lines; explanations.py: findings and page-table descriptions;
plans.py: the stage's result for a driver Plan. Sharing groups are host facts
(xlrmrr.host.groups), interval arithmetic is xlrmrr.ranges.
"""
