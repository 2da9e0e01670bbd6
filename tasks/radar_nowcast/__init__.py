"""radar_nowcast: Cray's precipitation nowcasting. Forecast the next hour of radar, verify it.

A day of radar frames, ``raw/radar/dt=D/HHMM.png`` (8-bit, HKO-7 encoding, one per
step of the cadence), goes through Spark stages, run by the ``radar_nowcast`` DAG
every 30 minutes:

1. ``radar_nowcast.ingest`` validates every frame into ``curated/radar_frames``;
   corrupt frames, frames of another size than the day's and names that are not a
   step of the cadence go to ``quarantine/radar_frames`` with their reason.
2. ``radar_nowcast.forecast`` issues, at every step whose input window is complete,
   forecasts of the next hour from the trained ConvLSTM and two baselines
   (persistence, optical-flow extrapolation) into the contract ``forecasts/radar``.
3. ``radar_nowcast.verify`` scores every forecast whose valid time has been observed
   into ``scores/radar``: contingency counts and error sums, summable over any window.

``radar_nowcast.train`` (the weekly ``radar_nowcast_train`` DAG) builds training
windows from past weeks in Spark, retrains the ConvLSTM under TorchDistributor and
promotes it only if it beats the current model on a held-out validation window.
The datasets and their schemas are in :mod:`.datasets`.
"""

# The stages, in the order the DAGs run them; each is the module lakesight.radar_nowcast.<stage>.
STAGES = ("ingest", "forecast", "verify", "train")
