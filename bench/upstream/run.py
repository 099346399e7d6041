"""Run the benchmark's fake upstream in the foreground, for trying a proxy by hand.

    uv run python bench/upstream/run.py [--port 8088]

POST /v1/chat/completions answers a fixed chat completion (JSON, with usage);
POST /sse/v1/chat/completions the same as an SSE stream ending in `data: [DONE]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from overhead.upstream import start_nginx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8088)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="candela-upstream-") as tmp:
        upstream = start_nginx(Path(tmp), port=args.port)
        print(f"JSON base URL {upstream.base_url(stream=False)}")
        print(f"SSE  base URL {upstream.base_url(stream=True)}   (Ctrl-C stops)")
        try:
            upstream.service.process.wait()
        except KeyboardInterrupt:
            pass
        finally:
            upstream.service.stop()


if __name__ == "__main__":
    main()
