"""Background work for the starter: a real task run by riso-tasks."""

import riso_tasks


@riso_tasks.task(ignore_result=False)
def add(x: int, y: int) -> int:
    return x + y
