"""OCI config, manifests and the image index for a built image."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from hardbase import __version__
from hardbase.build.layers import BuiltLayer
from hardbase.build.spec import NONROOT_UID, USERS, ImageSpec
from hardbase.oci import mediatypes as mt
from hardbase.oci.layout import Descriptor, Layout
from hardbase.util import clock

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SSL_CERT_FILE = "/etc/ssl/certs/ca-certificates.crt"
PLATFORMS = {
    "amd64": {"architecture": "amd64", "os": "linux"},
    "arm64": {"architecture": "arm64", "os": "linux", "variant": "v8"},
}


@dataclass(frozen=True)
class NamedLayer:
    name: str  # tier name, "skeleton" or "files"
    layer: BuiltLayer
    packages: int


def created_time(release_dates: list[str], epoch: int | None) -> str:
    """SOURCE_DATE_EPOCH if set, else the newest InRelease Date of the lock."""
    if epoch is not None:
        moment = datetime.fromtimestamp(epoch, UTC)
    else:
        parsed = [parsedate_to_datetime(d) for d in release_dates if d]
        moment = max(parsed).astimezone(UTC) if parsed else datetime.fromtimestamp(0, UTC)
    return clock.rfc3339(moment)


def user_string(user: str | int) -> str:
    if isinstance(user, int):
        return f"{user}:{user}"
    if user in USERS:
        uid = USERS[user]
        return f"{uid}:{uid}"
    return user if ":" in user else f"{user}:{user}"


def home_for(user: str | int) -> str:
    uid = user_string(user).split(":")[0]
    return {"0": "/root", str(NONROOT_UID): "/home/nonroot"}.get(uid, "/")


def image_config(
    spec: ImageSpec, arch: str, layers: list[NamedLayer], created: str
) -> dict[str, Any]:
    env = {"PATH": PATH, "SSL_CERT_FILE": SSL_CERT_FILE}
    env.update(spec.model.env)
    config: dict[str, Any] = {
        "User": user_string(spec.model.user),
        "Env": [f"{k}={v}" for k, v in env.items()],
        "WorkingDir": spec.model.workdir or home_for(spec.model.user),
        "Labels": {"org.opencontainers.image.title": spec.name, **spec.model.annotations},
    }
    if spec.entrypoint:
        config["Entrypoint"] = list(spec.entrypoint)
    if spec.model.cmd is not None:
        config["Cmd"] = list(spec.model.cmd)
    platform = PLATFORMS[arch]
    out: dict[str, Any] = {
        "created": created,
        "architecture": platform["architecture"],
        "os": platform["os"],
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [n.layer.diff_id for n in layers]},
        "history": [
            {
                "created": created,
                "created_by": f"hardbase {__version__}: {n.name} ({n.packages} packages)"
                if n.packages
                else f"hardbase {__version__}: {n.name}",
            }
            for n in layers
        ],
    }
    if "variant" in platform:
        out["variant"] = platform["variant"]
    return out


def write_manifest(
    layout: Layout,
    spec: ImageSpec,
    arch: str,
    layers: list[NamedLayer],
    created: str,
    annotations: dict[str, str],
) -> Descriptor:
    config = layout.put_json(image_config(spec, arch, layers, created), mt.OCI_CONFIG)
    layer_descs = []
    for named in layers:
        desc = layout.put_file(
            named.layer.blob, named.layer.digest, named.layer.size, mt.OCI_LAYER_GZIP
        )
        layer_descs.append(
            Descriptor(
                desc.media_type,
                desc.digest,
                desc.size,
                annotations={"dev.hardbase.layer": named.name},
            ).to_json()
        )
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": config.to_json(),
        "layers": layer_descs,
        "annotations": annotations,
    }
    return layout.put_json(manifest, mt.OCI_MANIFEST, platform=PLATFORMS[arch])


def write_index(
    layout: Layout, manifests: list[Descriptor], annotations: dict[str, str]
) -> Descriptor:
    index = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [m.to_json() for m in manifests],
        "annotations": annotations,
    }
    return layout.put_json(index, mt.OCI_INDEX)
