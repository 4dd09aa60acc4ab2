package dev.sluice.report;

/**
 * One finding of the default report. Immutable.
 *
 * @param code stable identifier: {@code source-nat}, {@code idle-connector}, {@code imbalance},
 *     {@code back-pressure}
 * @param subject what it is about (a server or connector)
 * @param message one human sentence naming the evidence (address and share, hours, ratio)
 */
public record Finding(String code, String subject, String message) {}
