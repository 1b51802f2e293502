"""What a process uses, read from /proc: CPU time, and resident bytes of its file mappings
(the idle tests' measures: a waiting process must neither spin nor keep model pages)."""
import os
import re


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mapped_rss_bytes(pid, wanted):
    """Resident bytes of the process's mappings whose path `wanted(path)` accepts."""
    total, inside = 0, False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split(maxsplit=5)
                inside = len(parts) == 6 and wanted(parts[5].rstrip())
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1]) * 1024
    return total


def demo_model_rss_bytes(pid):
    """Resident bytes of the demo model's GGUF files."""
    return mapped_rss_bytes(pid, lambda p: "nanomind-demo-" in p and p.endswith(".gguf"))
