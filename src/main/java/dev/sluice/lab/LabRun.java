package dev.sluice.lab;

/**
 * One run of a scenario: a name and the configuration the scenario's traffic goes through.
 *
 * @param name short stable name, used in tables, JSON and charts ({@code a-source-ip-persistence})
 */
public record LabRun(String name, RunConfig config) {}
