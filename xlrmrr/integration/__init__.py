"""Where guests really start: the xl wrapper (xl.py) and the xendomains check (xendomains.py)."""
