import subprocess
import sys

FORBIDDEN = ("flask", "sqlalchemy", "stripe", "werkzeug")

CHECK = f"""
import sys
import tracker.domain.money
import tracker.domain.periods
import tracker.domain.progress
import tracker.domain.rollover
import tracker.domain.widget
loaded = sorted(
    name for name in sys.modules
    if name.split(".")[0] in {FORBIDDEN!r}
)
print(",".join(loaded))
"""


def test_domain_imports_no_web_database_or_payment_library() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"domain imported: {result.stdout.strip()}"


def test_tracker_package_init_files_stay_empty() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import tracker, tracker.domain, pathlib;"
            "print(pathlib.Path(tracker.__file__).read_text().strip() == '',"
            " pathlib.Path(tracker.domain.__file__).read_text().strip() == '')",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]
