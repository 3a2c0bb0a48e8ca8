"""MNIST and image sets: the three data sources and the prepared split (`mnist`), image sets in and
out as IDX, .npz or PNG, and the pixel conversions (`images`)."""
