#!/usr/bin/env python3
"""Run scim2-tester (https://pypi.org/project/scim2-tester/) against one Roster connector.

    python .ci/scim2-tester.py --base-url URL --token TOKEN
    SCIM_BASE_URL=URL SCIM_TOKEN=TOKEN python .ci/scim2-tester.py

It runs every check the tester has, on every resource type the server publishes: nothing is
excluded. A check the server truthfully declines (a feature /ServiceProviderConfig says is
unsupported) is skipped by the tester itself. Every result is printed, then one line
`N passed, M failed, K skipped`. The exit code is 1 if any check failed or errored, or if the
tester never got as far as creating a resource (a discovery failure it returns early on).

Needs `scim2-tester[httpx2]` (scim2-client's HTTP engine is httpx2); `.ci/scim-compliance`
installs it in a virtual environment.
"""

import argparse
import os
import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

# Statuses that count as passing. The tester uses SUCCESS, ERROR and SKIPPED today; the
# others exist in its Status enum. DEVIATION (a SHOULD not followed) counts as a failure:
# Roster aims to follow the RFCs' recommendations too.
PASSED = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base-url",
        default=os.environ.get("SCIM_BASE_URL"),
        help="the connector's SCIM base URL (env SCIM_BASE_URL)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("SCIM_TOKEN"),
        help="a bearer token of that connector (env SCIM_TOKEN)",
    )
    args = parser.parse_args()
    if not args.base_url or not args.token:
        parser.error("give --base-url and --token (or SCIM_BASE_URL and SCIM_TOKEN)")

    http = httpx2.Client(
        # httpx2 resolves endpoints such as "/Users" under the base URL's path.
        base_url=args.base_url.rstrip("/") + "/",
        headers={"Authorization": f"Bearer {args.token}"},
        timeout=30,
    )
    client = SyncSCIMClient(http)
    # No tags, no resource types: everything the server publishes is checked.
    results = check_server(client, raise_exceptions=False)

    passed = failed = skipped = 0
    ran_crud = False
    for r in results:
        if r.status in PASSED:
            passed += 1
            ran_crud |= "crud:create" in r.tags
        elif r.status == Status.SKIPPED:
            skipped += 1
        else:
            failed += 1
        where = f"[{r.resource_type}] " if r.resource_type else ""
        print(f"{r.status.name:<8} {where}{r.title}")
        if r.description:
            print(f"         {r.description.strip().splitlines()[0]}")
        if r.reason:
            for line in str(r.reason).strip().splitlines():
                print(f"         {line}")
        if r.status not in PASSED and r.status != Status.SKIPPED and r.data is not None:
            print(f"         data: {r.data!r}"[:2000])

    if not ran_crud:
        print("the tester created no resource: discovery failed, see above")
        failed += 1
    print()
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
