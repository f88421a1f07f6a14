"""The upstream client at start (issue 12): a configured upstream whose client cannot be built
(a CA bundle that holds no certificate) used to be logged and then ignored, so the server came up
serving local projects only and every install that needed the upstream failed later, far from the
cause. Now `serve` refuses to start and names the setting; a usable bundle starts normally (the
client's own behaviour, timeouts, redirects, credentials, proxies, is tested in the
strongroom-upstream crate against in-test servers). On both backends."""

from __future__ import annotations

from pathlib import Path


import srkit

ROOT = Path(__file__).resolve().parents[2]
TEST_CA = ROOT / "crates" / "strongroom-upstream" / "tests" / "tls" / "ca.pem"
# Nothing listens on the discard port; the client is not asked to connect at start anyway.
UPSTREAM = "http://127.0.0.1:9/simple/"


def test_serve_refuses_an_upstream_client_it_cannot_build(strongroom, backend_kind, tmp_path):
    server = strongroom(backend_kind)
    server.stop()
    bundle = tmp_path / "not-a-bundle.pem"
    bundle.write_text("this file holds no certificate\n")
    env = server.env()
    env["STRONGROOM_UPSTREAM__URL"] = UPSTREAM
    env["STRONGROOM_UPSTREAM__CA_BUNDLE"] = str(bundle)
    # Before the fix serve came up without the client, and this timed out.
    proc = srkit.run([srkit.strongroom_bin(), "serve", *server.global_args(), "--bind", "127.0.0.1:0"],
                     env=env, check=False, timeout=30)
    said = srkit.output(proc)
    assert proc.returncode != 0, said
    assert "strongroom listening on" not in proc.stdout, said
    assert "upstream.ca_bundle" in said and str(bundle) in said, said


def test_serve_starts_with_an_upstream_and_a_usable_ca_bundle(strongroom, backend_kind):
    server = strongroom(backend_kind, env={
        "STRONGROOM_UPSTREAM__URL": UPSTREAM,
        "STRONGROOM_UPSTREAM__CA_BUNDLE": str(TEST_CA),
    })
    assert server.get("/healthz").status_code == 200
    assert "upstream client cannot start" not in server.stderr_text()
