"""Nowcasting models: the ConvLSTM encoder–forecaster of Shi et al. (2015), its training and export."""
