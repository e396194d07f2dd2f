export * from "./schema";
export * from "./problems";
export * from "./topology";
export * from "./storage";
export * from "./validate";
export * from "./load";
export * from "./default-inventory";
