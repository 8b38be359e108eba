"""The machine description every benchmark prints with its figures."""
import platform


def cpu_model() -> str:
    """Return the CPU model name (from /proc/cpuinfo where there is one)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
