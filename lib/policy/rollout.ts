/**
 * How a change rolls out across the fleet: in ordered waves, each starting only when every host of the previous
 * wave converged and verified (Terraform `depends_on` between one resource per wave).
 */
export interface RolloutSpec {
  /**
   * Hosts that go first, on their own, as the wave `canary`.
   * @default no canary wave
   */
  readonly canary?: string[];
  /**
   * A host label whose value names the host's wave (`labels: { wave: "eu" }` with `byLabel: "wave"`). Every host
   * outside the canary wave must carry it.
   * @default one wave for all hosts outside the canary
   */
  readonly byLabel?: string;
  /**
   * The order of the label's values; values not listed follow, alphabetically.
   * @default alphabetical
   */
  readonly order?: string[];
  /**
   * Split each wave (the canary aside) into batches of at most this many hosts, in fleet order:
   * waves `fleet-1`, `fleet-2`, ... (or `<label value>-1`, ...).
   * @default no split
   */
  readonly batchSize?: number;
}
