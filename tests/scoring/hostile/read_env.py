# expect: failed
import os

SECRET = "sk-test-" + "canary"
leaked = [k for k, v in os.environ.items() if SECRET in v or k.endswith("API_KEY")]
if leaked:
    print("LEAKED", leaked)
    raise SystemExit(0)
raise SystemExit(f"no secret found in {sorted(os.environ)}")
