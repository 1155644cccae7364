// An async task that runs one at a time. A call made while it runs asks for one more run
// right after it — any number of such calls make one run — so a ZooKeeper watch that fires
// during a read is never lost and reads never overlap. Written by hand: it is the few lines
// every watcher here needs, and no library carries it in this shape.

export class SerialTask {
  private running: Promise<void> | null = null;
  private again = false;

  /** `onError` hears what the task throws; the next call runs it again. */
  constructor(
    private readonly task: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Runs the task now, or once more after the run in progress; resolves when no run is left. */
  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.task().catch(this.onError);
        } while (this.again);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }
}
