#!/usr/bin/env python3
"""Builds a container image as a `docker save` archive (which `ctr images import` reads) from directories,
optionally on top of another such archive. The test bed needs images but no registry can be reached and no
container builder runs in this VM, so images are assembled layer by layer here: each layer is a directory
tarred with root ownership, and the config carries entrypoint, cmd, env, user and workdir."""
import argparse
import hashlib
import io
import json
import os
import tarfile


def layer_from_dir(src: str, dest: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            return info
        for base, dirs, files in os.walk(src):
            dirs.sort()
            target_dir = os.path.normpath(os.path.join(dest.lstrip("/"), os.path.relpath(base, src)))
            if target_dir not in (".", ""):
                tar.add(base, arcname=target_dir, recursive=False, filter=reset)
            for name in sorted(files) + sorted(d for d in dirs if os.path.islink(os.path.join(base, d))):
                arcname = os.path.normpath(os.path.join(target_dir, name))
                tar.add(os.path.join(base, name), arcname=arcname, recursive=False, filter=reset)
    return buf.getvalue()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--base", help="docker-save archive to build on")
    p.add_argument("--layer", action="append", default=[], help="DIR[:DEST] to add as one layer")
    p.add_argument("--entrypoint", help="JSON list")
    p.add_argument("--cmd", help="JSON list")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--user")
    p.add_argument("--workdir")
    p.add_argument("--label", action="append", default=[])
    args = p.parse_args()

    layers: list[tuple[str, bytes]] = []
    config: dict = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
    history: list = []
    if args.base:
        with tarfile.open(args.base) as base:
            manifest = json.load(base.extractfile("manifest.json"))[0]
            base_config = json.load(base.extractfile(manifest["Config"]))
            config = base_config.get("config", config)
            history = base_config.get("history", [])
            for name in manifest["Layers"]:
                layers.append((name, base.extractfile(name).read()))
    for spec in args.layer:
        src, _, dest = spec.partition(":")
        data = layer_from_dir(src, dest or "/")
        layers.append((hashlib.sha256(data).hexdigest() + "/layer.tar", data))
        history.append({"created_by": f"image-tar.py layer {spec}"})
    if args.entrypoint is not None:
        config["Entrypoint"] = json.loads(args.entrypoint)
    if args.cmd is not None:
        config["Cmd"] = json.loads(args.cmd)
    for env in args.env:
        key = env.split("=", 1)[0]
        config["Env"] = [e for e in config.get("Env", []) if not e.startswith(key + "=")] + [env]
    if args.user:
        config["User"] = args.user
    if args.workdir:
        config["WorkingDir"] = args.workdir
    if args.label:
        config.setdefault("Labels", {}).update(dict(label.split("=", 1) for label in args.label))

    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(data).hexdigest() for _, data in layers]},
        "history": history,
    }
    config_bytes = json.dumps(image_config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [args.tag], "Layers": [name for name, _ in layers]}]

    with tarfile.open(args.out, "w") as out:
        def put(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
        put(config_name, config_bytes)
        for name, data in layers:
            put(name, data)
        put("manifest.json", json.dumps(manifest).encode())
    print(f"wrote {args.out} ({args.tag}, {len(layers)} layers)")


if __name__ == "__main__":
    main()
