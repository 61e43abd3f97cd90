"""USB (V4L2) camera discovery: device identity and probing (:mod:`.devices`) and the hot-plug
monitor that turns devices into cameras (:mod:`.monitor`)."""
