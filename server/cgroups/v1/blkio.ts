// cgroup v1 `blkio` controller, read only for us (CRI sets no block IO limits).
//
// With the CFQ/BFQ schedulers gone, blkio.io_service_bytes_recursive stays empty on modern
// kernels and only the throttle files count IO, so we read both and prefer whichever has data.

/** Lines "MAJ:MIN Read|Write|Sync|Async|Discard|Total N", then "Total N". */
export const BLKIO_SERVICE_BYTES = 'blkio.io_service_bytes_recursive';
export const BLKIO_SERVICED = 'blkio.io_serviced_recursive';
export const BLKIO_THROTTLE_SERVICE_BYTES = 'blkio.throttle.io_service_bytes_recursive';
export const BLKIO_THROTTLE_SERVICED = 'blkio.throttle.io_serviced_recursive';
