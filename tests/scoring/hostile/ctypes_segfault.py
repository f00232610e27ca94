# expect: error, forbidden
import ctypes

ctypes.string_at(0)
