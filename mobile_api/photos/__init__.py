"""Survey, construction and completion photos: streamed upload, type from the bytes, EXIF."""
