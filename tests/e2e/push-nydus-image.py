#!/usr/bin/python3
"""push-nydus-image.py NYDUS_IMAGE ROOTFS WORK REGISTRY REPOSITORY:TAG [ENTRYPOINT...]

Turns the directory ROOTFS into a one-layer Nydus image (RAFS v6) with
nydus-image, the way nydusify would, and pushes it over plain HTTP to the
registry at REGISTRY with the credentials in $REGISTRY_AUTH (user:password).
ENTRYPOINT, if given, is the image's entrypoint (the pause image has one).
With - for NYDUS_IMAGE, the image is a plain OCI one instead (ROOTFS in one
gzip'd tar layer), as a node that is not switched can run.

The manifest has two layers: the RAFS data blob (media type
application/vnd.oci.image.layer.nydus.blob.v1, digest = blob id) and a gzip'd
tar holding image/image.boot, the filesystem's metadata, which is what the
snapshotter hands nydusd. Prints the manifest digest.
"""

import base64
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request

NYDUS_BLOB = "application/vnd.oci.image.layer.nydus.blob.v1"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def root_owned(info):
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def layer_tar(rootfs, path):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(os.listdir(rootfs)):
            tar.add(os.path.join(rootfs, name), arcname=name, filter=root_owned)


def bootstrap_layer(bootstrap):
    """The metadata layer: image/image.boot in a gzip'd tar (and the tar's
    own digest, which is its diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(bootstrap, arcname="image/image.boot", filter=root_owned)
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), sha256(tar_bytes)


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    def __init__(self, address, repository):
        self.base = f"http://{address}/v2/{repository}"
        self.auth = "Basic " + base64.b64encode(os.environ["REGISTRY_AUTH"].encode()).decode()

    def request(self, method, url, data=None, content_type=None):
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", self.auth)
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request) as response:
                return response.headers
        except urllib.error.HTTPError as error:
            sys.exit(f"push-nydus-image: {method} {url}: HTTP {error.code}")

    def push_blob(self, data):
        digest = sha256(data)
        location = self.request("POST", f"{self.base}/blobs/uploads/")["Location"]
        if location.startswith("/"):
            location = self.base.split("/v2/")[0] + location
        separator = "&" if "?" in location else "?"
        self.request("PUT", f"{location}{separator}digest={digest}", data, "application/octet-stream")
        return {"digest": digest, "size": len(data)}

    def push_manifest(self, tag, manifest):
        data = json.dumps(manifest, sort_keys=True).encode()
        self.request("PUT", f"{self.base}/manifests/{tag}", data, OCI_MANIFEST)
        return sha256(data)


def main():
    nydus_image, rootfs, work, address, reference = sys.argv[1:6]
    entrypoint = sys.argv[6:]
    repository, tag = reference.rsplit(":", 1)
    layer = os.path.join(work, "layer.tar")
    bootstrap = os.path.join(work, "image.boot")
    blob = os.path.join(work, "layer.blob")
    layer_tar(rootfs, layer)
    registry = Registry(address, repository)
    if nydus_image == "-":
        with open(layer, "rb") as f:
            tar_bytes = f.read()
        layers = [dict(registry.push_blob(gzip.compress(tar_bytes, mtime=0)), mediaType=OCI_LAYER_GZIP)]
        print(push_image(registry, tag, entrypoint, [sha256(tar_bytes)], layers))
        return
    subprocess.run(
        [nydus_image, "create", "--type", "tar-rafs", "--fs-version", "6",
         "--bootstrap", bootstrap, "--blob", blob, "--log-level", "warn", layer],
        check=True, stdout=subprocess.DEVNULL)

    with open(blob, "rb") as f:
        blob_bytes = f.read()
    bootstrap_gz, bootstrap_diff_id = bootstrap_layer(bootstrap)

    blob_desc = registry.push_blob(blob_bytes)
    boot_desc = registry.push_blob(bootstrap_gz)
    layers = [
        dict(blob_desc, mediaType=NYDUS_BLOB,
             annotations={"containerd.io/snapshot/nydus-blob": "true"}),
        dict(boot_desc, mediaType=OCI_LAYER_GZIP,
             annotations={"containerd.io/snapshot/nydus-bootstrap": "true",
                          "containerd.io/snapshot/nydus-fs-version": "6"}),
    ]
    print(push_image(registry, tag, entrypoint, [blob_desc["digest"], bootstrap_diff_id], layers))


def push_image(registry, tag, entrypoint, diff_ids, layers):
    """Pushes the config and the manifest of an image of these layers;
    returns the manifest's digest."""
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": dict({"Env": ["PATH=/bin"]}, **({"Entrypoint": entrypoint} if entrypoint else {})),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    config_desc = registry.push_blob(json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": dict(config_desc, mediaType=OCI_CONFIG),
        "layers": layers,
    }
    return registry.push_manifest(tag, manifest)


if __name__ == "__main__":
    main()
