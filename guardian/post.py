"""Post a signed webhook to Guardian: `python -m guardian.post URL SECRET JSON`.

A helper for trying Guardian out and for scripts: it signs the body with Standard Webhooks
(`webhook-id`, `webhook-timestamp`, `webhook-signature`) using the source's `whsec_` secret.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence

from guardian.clock import SystemClock
from guardian.signatures import signed_headers


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m guardian.post", description=__doc__)
    parser.add_argument("url", help="e.g. http://127.0.0.1:8080/hooks/mia-phone")
    parser.add_argument("secret", help="the source's whsec_ secret")
    parser.add_argument("body", help="the webhook body: one message object or an array")
    args = parser.parse_args(argv)
    try:
        body = json.dumps(json.loads(args.body)).encode()
    except json.JSONDecodeError as error:
        print(f"the body is not JSON: {error}", file=sys.stderr)
        return 2
    headers = signed_headers(args.secret, f"msg_{uuid.uuid4().hex}", SystemClock().now(), body)
    request = urllib.request.Request(args.url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            status, answer = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, answer = error.code, error.read().decode()
    except urllib.error.URLError as error:
        print(f"cannot reach {args.url}: {error.reason}", file=sys.stderr)
        return 1
    print(status, answer)
    return 0 if status == 202 else 1


if __name__ == "__main__":
    sys.exit(main())
