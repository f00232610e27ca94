# expect: failed
# reason: ended without answering
import ctypes

ctypes.string_at(0)
