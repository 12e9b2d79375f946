"""Every client command of ``ossdoc`` against a real server, with human and ``--json`` output."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import oss2

from cli_helpers import bucket_name, env_for, ok_json, ossdoc
from ossdoc_server import RunningServer, free_port


def tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_buckets_and_listings(server: RunningServer, tmp_path: Path) -> None:
    env = env_for(server, tmp_path)
    bucket = bucket_name()
    made = ossdoc(env, "mb", f"oss://{bucket}")
    assert made.returncode == 0 and f"created oss://{bucket}" in made.stdout
    assert bucket in [b["name"] for b in ok_json(env, "ls")]
    assert f"oss://{bucket}" in ossdoc(env, "ls").stdout
    for key in ("top.txt", "a/one.txt", "a/b/two.txt"):
        (tmp_path / "f").write_text(key)
        assert ossdoc(env, "cp", "-q", str(tmp_path / "f"), f"oss://{bucket}/{key}").returncode == 0
    level = ok_json(env, "ls", f"oss://{bucket}")
    assert [o["key"] for o in level["Objects"]] == ["top.txt"] and level["Prefixes"] == ["a/"]
    deep = ok_json(env, "ls", "-r", f"oss://{bucket}/a/")
    assert [o["key"] for o in deep["Objects"]] == ["a/b/two.txt", "a/one.txt"]
    shown = ossdoc(env, "ls", f"oss://{bucket}/a/")
    assert f"oss://{bucket}/a/b/" in shown.stdout and "1 object(s)" in shown.stdout
    # A bucket with objects is not removed; the error says what to do.
    refused = ossdoc(env, "rb", f"oss://{bucket}")
    assert refused.returncode == 1
    assert "BucketNotEmpty" in refused.stderr and "ossdoc rm -r -f" in refused.stderr
    assert ossdoc(env, "rm", "-r", "-f", f"oss://{bucket}").returncode == 0
    assert ok_json(env, "rb", f"oss://{bucket}") == {"Bucket": bucket, "Removed": True}
    gone = ossdoc(env, "ls", f"oss://{bucket}")
    assert gone.returncode == 1 and "NoSuchBucket" in gone.stderr and "hint: create it" in gone.stderr


def test_recursive_copy_both_ways_with_progress(server: RunningServer, tmp_path: Path) -> None:
    env = env_for(server, tmp_path)
    bucket = bucket_name()
    assert ossdoc(env, "mb", f"oss://{bucket}").returncode == 0
    source = tmp_path / "src"
    (source / "docs" / "deep").mkdir(parents=True)
    (source / "readme.md").write_text("# hello\n")
    (source / "docs" / "notes.txt").write_text("notes " * 1000)
    (source / "docs" / "deep" / "data.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB: in parts
    (source / "docs" / "empty").write_bytes(b"")
    big = ["--bigfile-threshold", str(512 * 1024), "--part-size", str(128 * 1024)]
    up = ossdoc(env, "cp", "-r", str(source), f"oss://{bucket}/up/", *big, cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    assert "100%" in up.stderr  # the progress bar reached the end
    assert "copied 4 file(s)" in up.stdout
    listed = ok_json(env, "ls", "-r", f"oss://{bucket}/up/")
    assert sorted(o["key"] for o in listed["Objects"]) == [
        "up/docs/deep/data.bin",
        "up/docs/empty",
        "up/docs/notes.txt",
        "up/readme.md",
    ]
    assert ossdoc(env, "stat", f"oss://{bucket}/up/docs/deep/data.bin").stdout.count("Multipart") == 1
    # A "folder" marker, as the OSS console makes them, is not a file.
    auth = oss2.Auth(server.access_key_id, server.access_key_secret)
    oss2.Bucket(auth, server.endpoint, bucket).put_object("up/folder/", b"")
    target = tmp_path / "back"
    down = ossdoc(env, "cp", "-r", f"oss://{bucket}/up/", str(target), *big, cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    assert "100%" in down.stderr
    assert tree(target) == tree(source)
    assert not (tmp_path / ".ossdoc_checkpoint").exists()  # finished transfers leave no checkpoint
    # --json: one record per file, no progress bar.
    again = ossdoc(env, "cp", "-r", f"oss://{bucket}/up/docs/", str(tmp_path / "docs2"), "--json")
    assert again.returncode == 0 and "%" not in again.stderr
    summary = json.loads(again.stdout)
    assert len(summary["Files"]) == 3 and summary["Bytes"] == 1024 * 1024 + 6000
    # A server-side copy, and a single object into a directory.
    assert ossdoc(env, "cp", f"oss://{bucket}/up/readme.md", f"oss://{bucket}/copy/").returncode == 0
    assert ossdoc(env, "cp", f"oss://{bucket}/copy/readme.md", str(target)).returncode == 0
    assert ossdoc(env, "cat", f"oss://{bucket}/copy/readme.md").stdout == "# hello\n"


def test_cat_stat_presign_rm(server: RunningServer, tmp_path: Path) -> None:
    env = env_for(server, tmp_path)
    bucket = bucket_name()
    assert ossdoc(env, "mb", f"oss://{bucket}").returncode == 0
    (tmp_path / "page.html").write_text("<p>héllo</p>", encoding="utf-8")
    assert ossdoc(env, "cp", str(tmp_path / "page.html"), f"oss://{bucket}/site/").returncode == 0
    assert ossdoc(env, "cat", f"oss://{bucket}/site/page.html").stdout == "<p>héllo</p>"
    info = ok_json(env, "stat", f"oss://{bucket}/site/page.html")
    assert info["Content-Type"] == "text/html" and info["Content-Length"] == str(len("<p>héllo</p>".encode()))
    assert ok_json(env, "stat", f"oss://{bucket}")["Name"] == bucket
    missing = ossdoc(env, "stat", f"oss://{bucket}/nope")
    assert missing.returncode == 1 and "NoSuchKey" in missing.stderr
    url = ok_json(env, "presign", f"oss://{bucket}/site/page.html", "--expires", "60")["URL"]
    assert httpx.get(url).text == "<p>héllo</p>"
    assert httpx.get(url.replace("Signature=", "Signature=x")).status_code == 403
    # rm asks first; without a terminal it refuses and deletes nothing.
    asked = ossdoc(env, "rm", f"oss://{bucket}/site/page.html")
    assert asked.returncode == 2 and "-f" in asked.stderr
    assert ossdoc(env, "cat", f"oss://{bucket}/site/page.html").returncode == 0
    removed = ok_json(env, "rm", "-f", f"oss://{bucket}/site/page.html")
    assert removed == {"Bucket": bucket, "Deleted": ["site/page.html"]}
    assert ossdoc(env, "cat", f"oss://{bucket}/site/page.html").returncode == 1


def test_credentials_from_the_config_file_and_clear_errors(server: RunningServer, tmp_path: Path) -> None:
    # Without OSSDOC_* variables: the config file written by `keys create` (here by hand).
    env = env_for(None, tmp_path)
    config = tmp_path / "xdg" / "ossdoc" / "config"
    config.parent.mkdir(parents=True)
    config.write_text(
        f"[Credentials]\nendpoint = {server.endpoint}\naccessKeyID = {server.access_key_id}\n"
        f"accessKeySecret = {server.access_key_secret}\n"
    )
    assert ossdoc(env, "ls").returncode == 0
    wrong = ossdoc(env, "ls", "-k", "not-the-secret")
    assert wrong.returncode == 1 and "SignatureDoesNotMatch" in wrong.stderr and "hint:" in wrong.stderr
    unknown = ossdoc({**env, "OSSDOC_ACCESS_KEY_ID": "LTAInobody", "OSSDOC_ACCESS_KEY_SECRET": "x"}, "ls")
    assert unknown.returncode == 1 and "InvalidAccessKeyId" in unknown.stderr
    nowhere = ossdoc(env, "ls", "--endpoint", f"http://127.0.0.1:{free_port()}")
    assert nowhere.returncode == 3 and "cannot reach" in nowhere.stderr
    config.unlink()
    no_keys = ossdoc(env, "ls", cwd=tmp_path)
    assert no_keys.returncode == 2 and "ossdoc keys create" in no_keys.stderr
    assert ossdoc(env, "cp", "a", "b").returncode == 2  # neither side is oss://
    assert ossdoc(env, "cp", str(tmp_path / "absent"), "oss://bucket/x", "-e", server.endpoint,
                  "-i", server.access_key_id, "-k", server.access_key_secret).returncode == 4  # fmt: skip


def answer(env: dict[str, str], reply: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run with a terminal on standard input, typing ``reply`` at the prompt."""
    leader, follower = os.openpty()
    try:
        os.write(leader, reply.encode())
        command = [sys.executable, "-m", "ossdoc", *args]
        return subprocess.run(command, env=env, stdin=follower, capture_output=True, text=True, timeout=60)
    finally:
        os.close(leader)
        os.close(follower)


def test_rm_asks_at_a_terminal_and_process_takes_oss_paths(server: RunningServer, tmp_path: Path) -> None:
    env = env_for(server, tmp_path)
    bucket = bucket_name()
    assert ossdoc(env, "mb", f"oss://{bucket}").returncode == 0
    (tmp_path / "doc.txt").write_text("ossdoc keeps documents.")
    assert ossdoc(env, "cp", str(tmp_path / "doc.txt"), f"oss://{bucket}/doc.txt").returncode == 0
    declined = answer(env, "n\n", "rm", f"oss://{bucket}/doc.txt")
    assert declined.returncode == 5 and "nothing done" in declined.stderr
    assert ossdoc(env, "cat", f"oss://{bucket}/doc.txt").returncode == 0
    processed = ossdoc(env, "process", "polish", "--object", f"oss://{bucket}/doc.txt", "--stream")
    assert processed.returncode == 0 and processed.stdout.strip(), processed.stderr
    accepted = answer(env, "y\n", "rm", "-r", f"oss://{bucket}/")
    assert accepted.returncode == 0 and "1 object(s) deleted" in accepted.stdout
    assert ok_json(env, "ls", "-r", f"oss://{bucket}")["Objects"] == []


def test_serve_refuses_settings_that_cannot_work(tmp_path: Path) -> None:
    for extra in ({"OSSDOC_LOG_FORMAT": "xml"}, {"OSSDOC_ACCESS_KEY_ID": "LTAIhalf"}):
        env = env_for(None, tmp_path, **extra)
        result = ossdoc(env, "serve", "--data", str(tmp_path / "data"), "--port", str(free_port()))
        assert result.returncode == 2 and next(iter(extra)) in result.stderr
