#!/usr/bin/python3
"""The shared RTSP loop server (``../shared/rtsp/rtsp_loop_server.py``) with HTTP Basic auth on
its mount: what a camera with a password answers (401 without the right credentials).

usage: /usr/bin/python3 rtsp_auth_server.py SERVER_SCRIPT FILE PORT MOUNT USER PASSWORD
"""
import importlib.util
import sys

spec = importlib.util.spec_from_file_location("rtsp_loop_server", sys.argv[1])
loop = importlib.util.module_from_spec(spec)
spec.loader.exec_module(loop)
GstRtspServer, GLib = loop.GstRtspServer, loop.GLib


def main() -> None:
    path, port, mount, user, password = sys.argv[2:7]
    server = GstRtspServer.RTSPServer(address="127.0.0.1", service=port)
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f'( filesrc location="{path}" ! qtdemux name=demux ! h264parse '
                       '! rtph264pay name=pay0 pt=96 config-interval=-1 )')
    factory.set_shared(True)
    factory.set_media_gtype(loop.LoopMedia)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
    permissions.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
    factory.set_permissions(permissions)
    server.get_mount_points().add_factory("/" + mount, factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot bind 127.0.0.1:{port}")
    print(f"READY rtsp://127.0.0.1:{port}/{mount}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
