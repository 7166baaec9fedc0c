// cgroup v1 `blkio` controller, read only for us (CRI sets no block IO limits; operators and
// NRI plugins may write the throttle files, and the metrics read them back).
//
// With the CFQ/BFQ schedulers gone, blkio.io_service_bytes_recursive stays empty on modern
// kernels and only the throttle files count IO, so we read both and prefer whichever has data.

/** Lines "MAJ:MIN Read|Write|Sync|Async|Discard|Total N", then "Total N". */
export const BLKIO_SERVICE_BYTES = 'blkio.io_service_bytes_recursive';
export const BLKIO_SERVICED = 'blkio.io_serviced_recursive';
export const BLKIO_THROTTLE_SERVICE_BYTES = 'blkio.throttle.io_service_bytes_recursive';
export const BLKIO_THROTTLE_SERVICED = 'blkio.throttle.io_serviced_recursive';

/** Throttle limits: "MAJ:MIN VALUE" per limited device; empty when none is set. */
export const BLKIO_THROTTLE_READ_BPS = 'blkio.throttle.read_bps_device';
export const BLKIO_THROTTLE_WRITE_BPS = 'blkio.throttle.write_bps_device';
export const BLKIO_THROTTLE_READ_IOPS = 'blkio.throttle.read_iops_device';
export const BLKIO_THROTTLE_WRITE_IOPS = 'blkio.throttle.write_iops_device';
/** A bare number (CFQ/BFQ only: absent on kernels without a proportional scheduler). */
export const BLKIO_WEIGHT = 'blkio.weight';

/** A per-device value ("8:0 1048576"). */
export interface DeviceValue {
  major: number;
  minor: number;
  value: number;
}

/** blkio.throttle.{read,write}_{bps,iops}_device: "8:0 1048576" lines (empty = no limits). */
export function parseDeviceValues(text: string | undefined): DeviceValue[] {
  const out: DeviceValue[] = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^(\d+):(\d+)\s+(\d+)\s*$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), value: Number(m[3]) });
  }
  return out;
}
